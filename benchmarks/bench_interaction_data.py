"""Memory and time of InteractionData at scale: build and split 20M synthetic rows.

Run by hand (not in CI)::

    .venv/bin/python benchmarks/bench_interaction_data.py --rows 20000000

Prints the wall time of each stage and the peak resident memory of the process, and
the ratio of peak memory to the raw size of the input DataFrame (the baseline: what
the user already holds in memory before skllmers sees the data).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from skllmers import InteractionData
from skllmers.model_selection import LeaveLastOut


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def synthetic_frame(n_rows: int, n_users: int, n_items: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    items = (rng.zipf(1.3, n_rows) % n_items).astype(np.int64)
    return pd.DataFrame({
        "user_id": rng.integers(0, n_users, n_rows),
        "item_id": items,
        "rating": rng.integers(1, 6, n_rows).astype(np.float32),
        "timestamp": rng.integers(0, 10**9, n_rows),
    })


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--users", type=int, default=140_000)
    parser.add_argument("--items", type=int, default=27_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    stages = {}
    start = time.perf_counter()
    frame = synthetic_frame(args.rows, args.users, args.items, args.seed)
    stages["make DataFrame"] = time.perf_counter() - start
    frame_gb = frame.memory_usage(deep=True).sum() / 1024**3
    rss_before = peak_rss_gb()

    start = time.perf_counter()
    data = InteractionData.from_pandas(frame, rating_col="rating", time_col="timestamp")
    stages["from_pandas"] = time.perf_counter() - start

    start = time.perf_counter()
    train_idx, test_idx = next(LeaveLastOut(random_state=0).split(data))
    train, test = data.take(train_idx), data.take(test_idx)
    stages["LeaveLastOut split + take"] = time.perf_counter() - start

    start = time.perf_counter()
    train.to_csr()
    stages["to_csr (train)"] = time.perf_counter() - start

    print(f"{len(data):,} rows, {data.n_users:,} users, {data.n_items:,} items; "
          f"train {len(train):,}, test {len(test):,}")
    print("| stage | seconds |\n|---|---|")
    for name, seconds in stages.items():
        print(f"| {name} | {seconds:.2f} |")
    peak = peak_rss_gb()
    print(f"input DataFrame: {frame_gb:.2f} GB; peak RSS before skllmers: {rss_before:.2f} GB; "
          f"peak RSS overall: {peak:.2f} GB; ratio peak/input: {peak / frame_gb:.2f}x")


if __name__ == "__main__":
    main()
