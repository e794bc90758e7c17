"""Click prediction: LLMSummaryFeaturizer inside a ColumnTransformer, before a classifier.

``LLMSummaryFeaturizer`` is a plain scikit-learn transformer on a column of texts, so
it drops into a ``ColumnTransformer`` in front of any classifier. This script builds a
click-through table from interactions and asks whether text features help:

* each user's interactions are split 80/20 (``UserRandomSplit``);
* every interaction is a click (label 1), and for each one an item the user never
  touched is drawn as a non-click (label 0);
* a row has two texts, the item's own text and the titles of the user's most recent
  *training* items (so no test interaction leaks into a feature), and two counts, the
  item's popularity and the user's activity in the training rows (a training click's
  item may be in its user's history; a test click's never is, so the test AUC is
  honest);
* a ``HistGradientBoostingClassifier`` is fitted on the counts alone, then on the
  counts plus the featurized texts, and both are scored by ROC AUC on the test rows.

Without an LLM the featurizer encodes the raw texts (its encoder-only mode). Pass
``--gguf model.gguf`` (or set ``SKLLMERS_GGUF``) to have a local instruction-tuned
model write a summary of each item and each user first; see ``real_gguf_model.py``.

Run::

    python examples/tabular_ctr.py           # MovieLens + all-MiniLM-L6-v2 (offline)
    python examples/tabular_ctr.py --quick   # small synthetic data, hashing encoder
"""

from __future__ import annotations

import argparse
import os
import warnings

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline

from skllmers import LLMSummaryFeaturizer
from skllmers.datasets import load_movielens, make_text_signal
from skllmers.model_selection import DroppedTestRowsWarning, UserRandomSplit

COUNTS = ["item_popularity", "user_activity"]


def click_table(data, rows, history, popularity, activity, rng):
    """Clicks (the interactions in ``rows``) and as many sampled non-clicks."""
    users, items = rows.user_codes, rows.item_codes
    known = data.to_csr(values="ones").tolil().rows  # every item each user touched
    negatives = np.empty_like(items)
    for i, user in enumerate(users):
        while True:
            candidate = rng.integers(data.n_items)
            if candidate not in known[user]:
                negatives[i] = candidate
                break
    user_codes = np.concatenate([users, users])
    item_codes = np.concatenate([items, negatives])
    texts = data.item_text().to_numpy()
    return pd.DataFrame({
        "item_text": texts[item_codes],
        "user_history": history[user_codes],
        "item_popularity": np.log1p(popularity[item_codes]),
        "user_activity": np.log1p(activity[user_codes]),
        "clicked": np.r_[np.ones(len(users), int), np.zeros(len(users), int)],
    })


def user_histories(data, train, n_recent=20):
    """Titles of each user's ``n_recent`` latest training items, as one text."""
    indptr, sequence = train.user_sequences(random_state=0)
    titles = data.items["title"].astype(str).to_numpy()
    return np.array(["; ".join(titles[sequence[max(start, stop - n_recent):stop]])
                     for start, stop in zip(indptr[:-1], indptr[1:], strict=True)],
                    dtype=object)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small synthetic data and a hashing encoder (seconds)")
    parser.add_argument("--gguf", default=os.environ.get("SKLLMERS_GGUF"),
                        help="a local GGUF model that writes summaries first")
    args = parser.parse_args(argv)

    if args.quick:
        from skllmers.llm.testing import HashingEncoder

        data = make_text_signal(n_users=200, n_items=300, random_state=0)
        encoder = HashingEncoder(embed_dim=256)
    else:
        from skllmers.llm import SentenceEncoder

        data = load_movielens("latest-small", verbose=False)
        encoder = SentenceEncoder()
    llm = None
    if args.gguf:
        from skllmers.llm import LlamaCppLLM

        llm = LlamaCppLLM(args.gguf, chat_format="auto", max_tokens=96)

    splitter = UserRandomSplit(test_size=0.2, random_state=0)
    with warnings.catch_warnings():  # test items never trained on: counted in fold_stats_
        warnings.simplefilter("ignore", DroppedTestRowsWarning)
        train_idx, test_idx = next(splitter.split(data))
    train, test = data[train_idx], data[test_idx]

    # Everything a feature is built from comes from the training interactions.
    history = user_histories(data, train)
    popularity = np.bincount(train.item_codes, minlength=data.n_items)
    activity = np.bincount(train.user_codes, minlength=data.n_users)
    rng = np.random.default_rng(0)
    table_train = click_table(data, train, history, popularity, activity, rng)
    table_test = click_table(data, test, history, popularity, activity, rng)
    print(f"{data}\nclick rows: {len(table_train)} train, {len(table_test)} test "
          f"(half of them sampled non-clicks)\n")
    print("one row:")
    for column, value in table_train.iloc[0].items():
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"  {column:<16} {text[:80] + ('...' if len(text) > 80 else '')}")
    print()

    def featurizer():
        return LLMSummaryFeaturizer(llm, encoder, n_components=16, random_state=0)

    models = {
        "counts only": make_pipeline(
            ColumnTransformer([("counts", "passthrough", COUNTS)]),
            HistGradientBoostingClassifier(random_state=0),
        ),
        "counts + text features": make_pipeline(
            ColumnTransformer([
                ("item_text", featurizer(), "item_text"),
                ("user_history", featurizer(), "user_history"),
                ("counts", "passthrough", COUNTS),
            ]),
            HistGradientBoostingClassifier(random_state=0),
        ),
    }
    X_train, y_train = table_train.drop(columns="clicked"), table_train["clicked"]
    X_test, y_test = table_test.drop(columns="clicked"), table_test["clicked"]
    results = {}
    for name, model in models.items():
        model.fit(X_train, y_train)
        results[name] = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
        print(f"{name:<24} test ROC AUC {results[name]:.4f}")
    lift = results["counts + text features"] - results["counts only"]
    print(f"\ntext features change the ROC AUC by {lift:+.4f}")
    source = "LLM summaries" if llm is not None else "the raw texts (no LLM: encoder-only mode)"
    print(f"the text features encode {source}")


if __name__ == "__main__":
    main()
