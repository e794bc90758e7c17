"""The main job: does item text make the best recommender better on the bundled MovieLens data?

``make demo`` runs this on ml-latest-small, offline, in two regimes:

1. **Warm items** (LeaveLastOut: each user's last interaction is held out, ties in time
   broken by a seeded key). Plain models against EASE with a semantic prior built from
   the items' title + genres (L3AE, ``EASERecommender(beta=...)``), NDCG@10 over the
   full catalogue, and a paired Wilcoxon test of the text pipeline against the best
   plain model on the same users.
2. **Cold items** (ColdItemSplit: every interaction of 20% of the items is held out, so
   in training those items have text and no row). Ranking among the cold items only:
   a random ranking, LightFM with text features, and ColdStartBridge (ALS whose cold
   items get factors from their text), with a paired test of the bridge against LightFM.

Item text is encoded by the packaged all-MiniLM-L6-v2 encoder; no LLM runs and nothing is
downloaded. The settings are the ones chosen on validation rows by
``benchmarks/bench_text_lift.py`` and ``benchmarks/bench_cold_items.py``. Options:
``--quick`` (fewer epochs, no SASRec), ``--part warm|cold|both``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from skllmers import LLMSummaryFeaturizer
from skllmers.datasets import load_movielens
from skllmers.metrics import paired_test, per_user_scores
from skllmers.model_selection import ColdItemSplit, LeaveLastOut, train_test_split_interactions
from skllmers.pipeline import make_pipeline
from skllmers.recommenders import (
    ALSRecommender,
    BaseRecommender,
    ColdStartBridge,
    EASERecommender,
    LightFMRecommender,
    PopularityRecommender,
    SASRecRecommender,
)


class RandomRecommender(BaseRecommender):
    """Uniform random scores: the floor of a ranking metric."""

    def __init__(self, random_state=0):
        self.random_state = random_state

    def _fit(self, X):
        self.scores_ = np.random.default_rng(self.random_state).random(X.n_items)

    def _score_users(self, user_codes):
        return np.repeat(self.scores_[None, :], len(user_codes), axis=0)


def text_features(n_components=None):
    """Title + genres of every item through the packaged encoder (no LLM)."""
    return LLMSummaryFeaturizer(text_columns=["title", "genres"], n_components=n_components,
                                random_state=0)


def warm_models(quick: bool) -> tuple[dict, dict]:
    plain = {
        "Popularity": PopularityRecommender(),
        "ALS": ALSRecommender(n_factors=64, random_state=0),
        "EASE": EASERecommender(l2=400.0),
    }
    if not quick:
        plain["SASRec"] = SASRecRecommender(n_factors=64, epochs=30, random_state=0)
    text = {
        "EASE + text prior (L3AE)": make_pipeline(
            text_features(), EASERecommender(l2=100.0, beta=1000.0, semantic_l2=30.0)),
    }
    return plain, text


def cold_models() -> dict:
    epochs = 3  # chosen on validation by bench_cold_items.py
    return {
        "random": RandomRecommender(),
        "LightFM + text features": make_pipeline(
            text_features(64), LightFMRecommender(n_factors=64, epochs=epochs,
                                                  random_state=0)),
        "ColdStartBridge(ALS) + text": make_pipeline(
            text_features(), ColdStartBridge(ALSRecommender(n_factors=64, random_state=0))),
    }


def fit_and_score(models: dict, train, test, candidates="all") -> tuple[pd.DataFrame, dict]:
    rows, per_user = [], {}
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(train)
        scores = per_user_scores(model, test, metric="ndcg", k=10, candidates=candidates)
        per_user[name] = scores
        rows.append({"model": name, "NDCG@10": scores.mean(), "users": len(scores),
                     "seconds": time.perf_counter() - start})
        print(f"  {name}: NDCG@10 {scores.mean():.4f} ({rows[-1]['seconds']:.0f} s)",
              flush=True)
    return pd.DataFrame(rows), per_user


def compare(per_user: dict, model: str, baseline: str) -> str:
    result = paired_test(per_user[model], per_user[baseline], random_state=0)
    ratio = per_user[model].mean() / per_user[baseline].mean()
    return (f"{model} vs {baseline}: {ratio:.3f}x NDCG@10, paired Wilcoxon p = "
            f"{result.pvalue:.2g} over {result.n} users")


def warm_part(data, quick: bool) -> None:
    print("\n## Warm items: LeaveLastOut, full-catalogue ranking")
    train, test = train_test_split_interactions(data, LeaveLastOut(random_state=0))
    plain, text = warm_models(quick)
    table, per_user = fit_and_score({**plain, **text}, train, test)
    print(table.to_markdown(index=False, floatfmt=".4f"))
    best_plain = max(plain, key=lambda name: per_user[name].mean())
    for name in text:
        print(compare(per_user, name, best_plain))
        if best_plain != "EASE":  # and against the text pipeline's own base
            print(compare(per_user, name, "EASE"))


def cold_part(data) -> None:
    print("\n## Cold items: ColdItemSplit(0.2), ranking among the cold items only")
    train, test = train_test_split_interactions(data, ColdItemSplit(0.2, random_state=0))
    table, per_user = fit_and_score(cold_models(), train, test, candidates="cold")
    print(table.to_markdown(index=False, floatfmt=".4f"))
    print(compare(per_user, "ColdStartBridge(ALS) + text", "LightFM + text features"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="no SASRec (it takes minutes)")
    parser.add_argument("--part", choices=("warm", "cold", "both"), default="both")
    args = parser.parse_args()
    data = load_movielens("latest-small")
    print(data)
    if args.part in ("warm", "both"):
        warm_part(data, args.quick)
    if args.part in ("cold", "both"):
        cold_part(data)


if __name__ == "__main__":
    main()
