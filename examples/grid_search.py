"""Grid search over LLM-enhancement hyperparameters; the cache makes repeated work free.

A scikit-learn Pipeline ``LLMEmbeddingInitializer -> GuidanceRegularizer ->
BPRRecommender`` is tuned by ``GridSearchCV`` with ``LeaveLastOut`` as ``cv``:

* ``llmembeddinginitializer__mode``: the text vectors start BPR's item embeddings
  (``"init"``) or stay frozen behind a trainable adapter (``"frozen"``);
* ``guidanceregularizer__weight``: weight of the RLMRec-style alignment loss toward the
  text profiles of users and items (0 is the unguided model, so the baseline is in
  the grid).

A recommender's ``score`` is NDCG@10, so no ``scoring`` is needed; this script adds two
columns to ``cv_results_`` that count, per candidate, the texts sent to the encoder
and those answered by the persistent :class:`~skllmers.llm.LLMCache`. The first
candidate embeds every item text and user profile of its fold (unless an earlier run
cached them); every later candidate finds them all in the cache. The final refit on
all training rows embeds only the user profiles that the held-out fold changed.

Run::

    python examples/grid_search.py           # MovieLens + all-MiniLM-L6-v2 (offline)
    python examples/grid_search.py --quick   # small synthetic data, hashing encoder

``--cache-dir`` picks the cache folder (default: the shared skllmers cache; with
``--quick``, a fresh temporary folder so the first candidate really computes).
"""

from __future__ import annotations

import argparse
import tempfile
import warnings

import pandas as pd
from sklearn.model_selection import GridSearchCV

from skllmers import GuidanceRegularizer, LLMEmbeddingInitializer
from skllmers.datasets import load_movielens, make_text_signal
from skllmers.llm import LLMCache, default_cache_dir
from skllmers.metrics import make_rank_scorer
from skllmers.model_selection import DroppedTestRowsWarning, LeaveLastOut
from skllmers.pipeline import make_pipeline
from skllmers.recommenders import BPRRecommender


def encoder_counter(counter):
    """A scorer that reports how many texts the pipeline's encoders handled.

    GridSearchCV clones the pipeline for every candidate and fold, and every clone gets
    a fresh encoder whose ``stats()`` count only its own calls, so evaluating this
    "score" right after the fit gives that candidate's encoder traffic.
    """

    def scorer(pipeline, X, y=None):
        return sum(step.encoder.stats()[counter] for step in pipeline[:-1])

    return scorer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small synthetic data and a hashing encoder (seconds)")
    parser.add_argument("--cache-dir", help="folder of the LLM/encoder cache")
    args = parser.parse_args(argv)

    temporary = None
    cache_dir = args.cache_dir
    if args.quick:
        from skllmers.llm.testing import HashingEncoder

        if cache_dir is None:
            temporary = tempfile.TemporaryDirectory(prefix="skllmers-grid-")
            cache_dir = temporary.name
        data = make_text_signal(n_users=150, n_items=200, random_state=0)
        encoder = HashingEncoder(embed_dim=128, cache=cache_dir)
        n_factors, epochs = 32, 10
    else:
        from skllmers.llm import SentenceEncoder

        cache_dir = cache_dir or default_cache_dir()
        data = load_movielens("latest-small", verbose=False)
        encoder = SentenceEncoder(cache=cache_dir)
        n_factors, epochs = 64, 20
    cache = LLMCache(cache_dir)
    entries_before = cache.stats()["entries"]

    # A test item that no training row has cannot be ranked: LeaveLastOut drops such
    # rows with a DroppedTestRowsWarning (once per fit of the search); the counts stay in
    # the splitter's fold_stats_.
    warnings.simplefilter("ignore", DroppedTestRowsWarning)

    # Hold out each user's last interaction for the final test; tune on the rest.
    train_idx, test_idx = next(LeaveLastOut(random_state=0).split(data))
    train, test = data[train_idx], data[test_idx]

    pipe = make_pipeline(
        LLMEmbeddingInitializer(encoder, n_components=n_factors, random_state=0),
        GuidanceRegularizer(encoder=encoder, random_state=0),
        BPRRecommender(n_factors=n_factors, epochs=epochs, random_state=0),
    )
    grid = {
        "llmembeddinginitializer__mode": ["init", "frozen"],
        "guidanceregularizer__weight": [0.0, 0.05],
    }
    scoring = {
        "ndcg@10": make_rank_scorer("ndcg", k=10),
        "encoder_calls": encoder_counter("calls"),
        "cache_hits": encoder_counter("cache_hits"),
    }
    search = GridSearchCV(pipe, grid, cv=LeaveLastOut(random_state=0), scoring=scoring,
                          refit="ndcg@10")
    search.fit(train)

    results = pd.DataFrame(search.cv_results_)
    columns = {
        "param_llmembeddinginitializer__mode": "mode",
        "param_guidanceregularizer__weight": "weight",
        "mean_test_ndcg@10": "ndcg@10",
        "mean_test_encoder_calls": "encoder calls",
        "mean_test_cache_hits": "cache hits",
        "mean_fit_time": "fit s",
    }
    table = results[list(columns)].rename(columns=columns)
    table[["encoder calls", "cache hits"]] = table[["encoder calls", "cache hits"]].astype(int)
    print("candidates, in the order they were fitted:")
    print(table.round(4).to_string(index=False), "\n")

    refit_stats = [step.encoder.stats() for step in search.best_estimator_[:-1]]
    stats = cache.stats()
    print(f"best: {search.best_params_}  (validation NDCG@10 {search.best_score_:.4f})")
    print(f"refit on all training rows: {sum(s['calls'] for s in refit_stats)} encoder "
          f"calls, {sum(s['cache_hits'] for s in refit_stats)} cache hits")
    print(f"cache {stats['file_bytes'] / 1e6:.1f} MB at {cache.db_path}: "
          f"{stats['entries']} entries ({stats['entries'] - entries_before} new in this run)")
    print(f"test NDCG@10 of the refitted best pipeline: {search.score(test):.4f}")

    cache.close()
    if temporary is not None:
        temporary.cleanup()


if __name__ == "__main__":
    main()
