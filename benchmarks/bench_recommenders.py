"""Every recommender on the bundled ml-latest-small under LeaveLastOut, several seeds.

Run by hand (``make benchmark``, or with options)::

    .venv/bin/python benchmarks/bench_recommenders.py --seeds 5
    .venv/bin/python benchmarks/bench_recommenders.py --seeds 3 --models EASE ALS

For each model: mean and std over seeds of NDCG@10, Recall@20 and HitRate@10, fit
seconds, recommend seconds per 1000 users, and a paired per-user Wilcoxon test of
NDCG@10 against the named baseline (Popularity). Only ~610 users are held out, so a
difference of a few percent is noise unless the p-value says otherwise. Writes
``benchmarks/results/recommenders.{json,md}``.
"""

from __future__ import annotations

import argparse

from _protocol import leave_last_out, run_cell, seeds_argument, summarize, write_results
from tqdm.auto import tqdm

from skllmers.datasets import load_movielens
from skllmers.recommenders import (
    ALSRecommender,
    BPRRecommender,
    EASERecommender,
    LightFMRecommender,
    LightGCNRecommender,
    PopularityRecommender,
    SASRecRecommender,
)

BASELINE = "Popularity"


def models(seed: int) -> dict:
    return {
        "Popularity": PopularityRecommender(),
        "EASE": EASERecommender(l2=200.0),
        "ALS": ALSRecommender(n_factors=64, random_state=seed),
        "LightFM": LightFMRecommender(n_factors=64, random_state=seed),
        "BPR": BPRRecommender(n_factors=64, random_state=seed),
        "LightGCN": LightGCNRecommender(n_factors=64, random_state=seed),
        "SASRec": SASRecRecommender(n_factors=64, random_state=seed),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seeds_argument, default=list(range(5)),
                        help="number of seeds, or a comma-separated list")
    parser.add_argument("--models", nargs="*", help="subset of model names")
    args = parser.parse_args()

    data = load_movielens("latest-small")
    cells = []
    for seed in tqdm(args.seeds, desc="seeds"):
        train, test = leave_last_out(data, seed)
        for name, model in models(seed).items():
            if args.models and name not in args.models:
                continue
            cells.append({"model": name, "seed": seed, "params": model.get_params(),
                          **run_cell(model, train, test)})
    summary = summarize(cells, baseline=BASELINE if not args.models
                        or BASELINE in args.models else None)
    config = {"dataset": "ml-latest-small", "split": "LeaveLastOut(n=1, ties: seeded random)",
              "seeds": args.seeds, "ranking": "full catalogue, train items excluded"}
    write_results("recommenders", cells, summary, config)


if __name__ == "__main__":
    main()
