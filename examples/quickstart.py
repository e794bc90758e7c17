"""Quickstart: an LLM enhancer in front of a recommender, evaluated, then served.

The bundled MovieLens ``ml-latest-small`` data is split with ``LeaveLastOut`` (each
user's last interaction is held out). Two models are fitted on the rest:

* ``BPRRecommender`` alone, and
* a scikit-learn Pipeline ``LLMEmbeddingInitializer -> BPRRecommender``: each movie's
  text (title, genres, tags) is embedded by a sentence encoder, reduced by PCA, and the
  vectors start BPR's item embeddings (Harte et al., 2023).

Both are evaluated over the whole catalogue (training items excluded), compared user
by user with a paired test, and the enhanced model recommends movies to one user.
The encoder runs in ``fit`` only: serving is a matrix product.

Run::

    python examples/quickstart.py           # MovieLens + all-MiniLM-L6-v2 (offline)
    python examples/quickstart.py --quick   # small synthetic data, hashing encoder

The first full run embeds the ~9,700 movie texts (a few minutes on a laptop CPU); the
vectors go to the persistent skllmers cache, so later runs skip that step.
"""

from __future__ import annotations

import argparse
import warnings

import pandas as pd

from skllmers import LLMEmbeddingInitializer
from skllmers.datasets import load_movielens, make_text_signal
from skllmers.metrics import evaluate, paired_test, per_user_scores
from skllmers.model_selection import DroppedTestRowsWarning, LeaveLastOut
from skllmers.pipeline import make_pipeline
from skllmers.recommenders import BPRRecommender


def load(quick: bool):
    """The data, a text encoder, and the model sizes."""
    if quick:
        from skllmers.llm.testing import HashingEncoder

        data = make_text_signal(n_users=200, n_items=300, random_state=0)
        return data, HashingEncoder(embed_dim=256), {"n_factors": 32, "epochs": 15}
    from skllmers.llm import SentenceEncoder

    data = load_movielens("latest-small", verbose=False)
    return data, SentenceEncoder(), {"n_factors": 64, "epochs": 30}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small synthetic data and a hashing encoder (seconds)")
    args = parser.parse_args(argv)

    data, encoder, size = load(args.quick)
    splitter = LeaveLastOut(random_state=0)
    with warnings.catch_warnings():  # counted in splitter.fold_stats_, printed below
        warnings.simplefilter("ignore", DroppedTestRowsWarning)
        train_idx, test_idx = next(splitter.split(data))
    train, test = data[train_idx], data[test_idx]
    dropped = splitter.fold_stats_[0]["n_dropped"]
    print(data)
    print(f"train: {len(train)} rows; test: {len(test)} rows (each user's last one; "
          f"{dropped} dropped: no model can rank an item it never saw)\n")

    base = BPRRecommender(**size, random_state=0)
    enhanced = make_pipeline(
        LLMEmbeddingInitializer(encoder, n_components=size["n_factors"], random_state=0),
        BPRRecommender(**size, random_state=0),
    )

    rows = []
    for name, model in [("BPR", base), ("LLM init + BPR", enhanced)]:
        scores = evaluate(model, train, test, metrics=["ndcg", "recall"], k=10)
        rows.append(scores.assign(model=name))
    table = pd.concat(rows).set_index("model")
    print(table.round(4).to_string(), "\n")

    # Is the difference real? Pair the two models' NDCG@10 user by user.
    result = paired_test(per_user_scores(enhanced, test), per_user_scores(base, test),
                         random_state=0)
    print(f"paired test over {result.n} users: NDCG@10 difference "
          f"{result.mean_difference:+.4f} (95% CI {result.ci_low:+.4f} .. "
          f"{result.ci_high:+.4f}), p = {result.pvalue:.3g}\n")

    # Serving: the Pipeline's last step recommends; the encoder is not needed any more.
    user = test.user_ids[test.user_codes[0]]
    top = enhanced.recommend([user], k=5)
    titles = data.items["title"].reindex(top["item_id"]).to_numpy()
    print(f"top 5 for user {user}:")
    print(top.assign(title=titles)[["rank", "item_id", "title", "score"]]
          .to_string(index=False))


if __name__ == "__main__":
    main()
