"""One real LLM fit, timed twice: LLMSummaryFeaturizer(target="both") with a local GGUF.

A subset of ml-latest-small (the ``--items`` most rated movies and the ``--users`` users
with the most ratings among them) keeps the run to minutes on a CPU. The first fit
writes every item summary and user-taste profile with the LLM; the second fit, by a
clone of the same pipeline step, is answered by the persistent cache and calls the model
zero times. Prints both wall times, their ratio and the LLM's counters, and writes
``results/real_llm_fit_<model>.{json,md}``.

    python benchmarks/bench_real_llm_fit.py --model ~/.cache/skllmers/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sklearn.base import clone

from skllmers import InteractionData, LLMSummaryFeaturizer
from skllmers.datasets import load_movielens
from skllmers.llm import LlamaCppLLM, LLMCache

RESULTS = Path(__file__).parent / "results"


def subset(n_items: int, n_users: int) -> InteractionData:
    data = load_movielens("latest-small")
    frame = data.to_pandas()
    top_items = frame["item_id"].value_counts().index[:n_items]
    frame = frame[frame["item_id"].isin(top_items)]
    top_users = frame["user_id"].value_counts().index[:n_users]
    frame = frame[frame["user_id"].isin(top_users)]
    items = data.items.loc[frame["item_id"].unique()]
    return InteractionData.from_pandas(frame, items=items, rating_col="rating",
                                       time_col="timestamp")


def timed_fit(featurizer, data) -> tuple[float, dict]:
    start = time.perf_counter()
    featurizer.fit(data)
    return time.perf_counter() - start, dict(featurizer.llm_stats_)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="path of a GGUF instruct model")
    parser.add_argument("--items", type=int, default=60)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-parallel", type=int, default=4)
    args = parser.parse_args()

    data = subset(args.items, args.users)
    with tempfile.TemporaryDirectory() as folder:
        llm = LlamaCppLLM(args.model, n_threads=args.threads, n_parallel=args.n_parallel,
                          max_tokens=args.max_tokens, cache=LLMCache(folder), verbose=0)
        featurizer = LLMSummaryFeaturizer(llm, target="both", random_state=0)
        first, first_stats = timed_fit(featurizer, data)
        summaries = featurizer.summaries_.set_index("kind")["summary"]
        example = {kind: str(summaries[kind].iloc[0]) for kind in ("item", "user")}
        second, second_stats = timed_fit(clone(featurizer), data)
    result = {
        "model": Path(args.model).name, "n_items": data.n_items, "n_users": data.n_users,
        "max_tokens": args.max_tokens, "threads": args.threads,
        "n_parallel": args.n_parallel, "first_fit_s": first, "cached_fit_s": second,
        "speed_up": first / second, "first_stats": first_stats,
        "cached_stats": second_stats, "example_summaries": example,
    }
    RESULTS.mkdir(exist_ok=True)
    stem = f"real_llm_fit_{Path(args.model).stem}"  # the stem has dots: no with_suffix
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2, default=str))
    lines = [
        f"# LLMSummaryFeaturizer(target='both') with {result['model']}",
        "",
        f"`python benchmarks/bench_real_llm_fit.py --model {result['model']} --items "
        f"{args.items} --users {args.users} --max-tokens {args.max_tokens} --threads "
        f"{args.threads} --n-parallel {args.n_parallel}` on a shared 2-core CPU.",
        "",
        f"- data: {data.n_items} items, {data.n_users} users of ml-latest-small",
        f"- first fit: {first:.1f} s; second fit (clone, same cache): {second:.2f} s "
        f"({first / second:.0f}x faster)",
        f"- LLM counters, first fit: {first_stats}",
        f"- LLM counters, cached fit: {second_stats}",
        f"- an item summary: {example['item']!r}",
        f"- a user profile: {example['user']!r}",
    ]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
