"""The evaluation protocol shared by the benchmark scripts.

One cell = one model fitted and evaluated on one seed's split. Every cell records its
split, seed, parameters, library versions, quality (NDCG@10, Recall@20, HitRate@10 over
all held-out users), the per-user NDCG@10 (for paired tests) and its costs.
"""

from __future__ import annotations

import json
import platform
import resource
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from skllmers.metrics import evaluate, paired_test, per_user_scores
from skllmers.model_selection import LeaveLastOut

RESULTS_DIR = Path(__file__).parent / "results"
QUALITY = ("ndcg@10", "recall@20", "hit_rate@10")


def versions() -> dict:
    names = ["skllmers", "numpy", "scikit-learn", "torch", "implicit", "lightfm-next",
             "sentence-transformers", "llama_cpp_python"]
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    found["python"] = platform.python_version()
    found["machine"] = platform.machine()
    return found


def leave_last_out(data, seed: int):
    """Each user's last interaction by time (ties broken by ``seed``) is held out."""
    splitter = LeaveLastOut(random_state=seed)
    train_idx, test_idx = next(splitter.split(data))
    return data[train_idx], data[test_idx]


def run_cell(model, train, test, *, n_recommend_users: int = 1000) -> dict:
    """Fit ``model`` on ``train``, score it on ``test``; quality, costs and per-user NDCG."""
    start = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - start
    table = evaluate(model, train, test, metrics=("ndcg", "recall", "hit_rate"),
                     k=[10, 20], fit=False)
    recommender = model.steps[-1][1] if hasattr(model, "steps") else model
    users = recommender.user_ids_[:n_recommend_users]
    start = time.perf_counter()
    recommender.recommend(users, k=10)
    recommend_seconds = (time.perf_counter() - start) * 1000 / len(users)
    per_user = per_user_scores(model, test, "ndcg", 10)
    return {
        **{name: float(table[name].iloc[0]) for name in QUALITY},
        "n_test_users": int(table["n_users"].iloc[0]),
        "fit_seconds": fit_seconds,
        "recommend_seconds_per_1000_users": recommend_seconds,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "per_user_ndcg@10": {str(k): float(v) for k, v in per_user.items()},
    }


def summarize(cells: list[dict], baseline: str | None = None) -> pd.DataFrame:
    """Mean and std over seeds per model; paired Wilcoxon test against ``baseline``."""
    frame = pd.DataFrame(cells)
    rows = []
    for name, group in frame.groupby("model", sort=False):
        row = {"model": name, "seeds": len(group)}
        for column in (*QUALITY, "fit_seconds", "recommend_seconds_per_1000_users"):
            row[f"{column} mean"] = group[column].mean()
            row[f"{column} std"] = group[column].std(ddof=1) if len(group) > 1 else 0.0
        if baseline is not None and name != baseline:
            row.update(_paired_against(frame, name, baseline))
        rows.append(row)
    return pd.DataFrame(rows)


def _paired_against(frame: pd.DataFrame, name: str, baseline: str) -> dict:
    """Wilcoxon test of per-user NDCG@10 (averaged over seeds), model vs baseline.

    Averaging over seeds first keeps one value per user, so the test pairs independent
    users rather than counting the same user once per seed.
    """
    def per_user_mean(model):
        cells = frame.loc[frame["model"] == model, "per_user_ndcg@10"]
        return pd.DataFrame(list(cells)).mean(axis=0)

    result = paired_test(per_user_mean(name), per_user_mean(baseline), method="wilcoxon")
    return {f"lift vs {baseline}": result.relative_difference, "p-value": result.pvalue}


def write_results(name: str, cells: list[dict], summary: pd.DataFrame, config: dict) -> None:
    RESULTS_DIR.mkdir(exist_ok=True)
    payload = {"config": config, "versions": versions(), "cells": cells,
               "summary": summary.to_dict(orient="records")}
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(payload, indent=1, default=float))
    markdown = summary.to_markdown(index=False, floatfmt=".4f")
    (RESULTS_DIR / f"{name}.md").write_text(markdown + "\n")
    print(markdown)


def seeds_argument(value: str) -> list[int]:
    return [int(v) for v in value.split(",")] if "," in value else list(range(int(value)))


def median(values) -> float:
    return float(np.median(np.asarray(values, dtype=float)))
