"""The main job: fit and evaluate recommenders on the bundled MovieLens data.

``make demo`` runs this. It holds out each user's last interaction (ties in time broken
by a seeded random key), fits every model on the rest, and prints NDCG@10 and Recall@10
over the full catalogue with the user's training items excluded.

Options: ``--quick`` for fewer epochs, ``--models`` to choose models, ``--no-llm`` to skip
the enhancers (they use the offline all-MiniLM-L6-v2 encoder; no LLM download is needed).
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
from sklearn.pipeline import make_pipeline
from tqdm.auto import tqdm

from skllmers.datasets import load_movielens
from skllmers.metrics import evaluate
from skllmers.model_selection import LeaveLastOut
from skllmers.recommenders import (
    ALSRecommender,
    BPRRecommender,
    EASERecommender,
    LightFMRecommender,
    LightGCNRecommender,
    PopularityRecommender,
    SASRecRecommender,
)


def base_models(quick: bool) -> dict:
    epochs = 5 if quick else 30
    return {
        "Popularity": PopularityRecommender(),
        "EASE": EASERecommender(l2=200.0),
        "ALS": ALSRecommender(n_factors=64, random_state=0),
        "LightFM": LightFMRecommender(n_factors=64, epochs=epochs, random_state=0),
        "BPR": BPRRecommender(n_factors=64, epochs=epochs, random_state=0),
        "LightGCN": LightGCNRecommender(n_factors=64, epochs=epochs, random_state=0),
        "SASRec": SASRecRecommender(n_factors=64, epochs=epochs, random_state=0),
    }


def enhanced_models(quick: bool) -> dict:
    from skllmers import GuidanceRegularizer, LLMEmbeddingInitializer

    epochs = 5 if quick else 30
    return {
        "BPR + LLM init": make_pipeline(
            LLMEmbeddingInitializer(n_components=64),
            BPRRecommender(n_factors=64, epochs=epochs, random_state=0),
        ),
        "LightGCN + LLM guidance": make_pipeline(
            GuidanceRegularizer(weight=0.01),
            LightGCNRecommender(n_factors=64, epochs=epochs, random_state=0),
        ),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs")
    parser.add_argument("--models", nargs="*", help="model names to run (default: all)")
    parser.add_argument("--no-llm", action="store_true", help="skip the LLM enhancers")
    args = parser.parse_args()

    data = load_movielens("latest-small")
    train_idx, test_idx = next(LeaveLastOut(random_state=0).split(data))
    train, test = data[train_idx], data[test_idx]
    print(f"{data}\ntrain: {len(train)} rows, test: {len(test)} rows (last item per user)")

    models = base_models(args.quick)
    if not args.no_llm:
        models.update(enhanced_models(args.quick))
    if args.models:
        models = {name: model for name, model in models.items() if name in args.models}

    rows = []
    for name, model in tqdm(models.items(), desc="models"):
        start = time.perf_counter()
        table = evaluate(model, train, test, metrics=("ndcg", "recall"), k=10)
        row = table.iloc[0].to_dict()
        rows.append({"model": name, "NDCG@10": row["ndcg@10"], "Recall@10": row["recall@10"],
                     "seconds": time.perf_counter() - start})
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4f"))


if __name__ == "__main__":
    main()
