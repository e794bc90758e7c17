"""What the added rows look like to the models: time, rating, triples, and the retriever's data."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from conftest import preference_llm
from skllmers import InteractionData
from skllmers.interaction import EmbeddingNeighbors, LLMInteractionAugmenter, LLMSelect
from skllmers.llm.testing import HashingEncoder
from skllmers.model_selection import LeaveLastOut, train_test_split_interactions
from skllmers.recommenders import EASERecommender, PopularityRecommender
from skllmers.recommenders._torch._pairwise import PairwiseSampler
from skllmers.recommenders._torch._rows import TrainingRows
from skllmers.recommenders._torch._sampling import KnownPairs

pytestmark = pytest.mark.filterwarnings(
    "ignore::skllmers.model_selection.DroppedTestRowsWarning")  # tiny folds drop rows


def _alphabetical(history, title):
    return -float(ord(title[0].lower()) - ord("a")) / 26


def _augment(data, **strategy):
    augmenter = LLMInteractionAugmenter(preference_llm(_alphabetical), random_state=0,
                                        strategy=LLMSelect(**{"n_candidates": 3,
                                                              "scoring": "likelihood",
                                                              **strategy}))
    return augmenter, augmenter.fit_resample(data)


# ---------------------------------------------------------------------- time
def test_added_rows_are_timed_just_before_the_users_last_real_row(catalogue):
    _, out = _augment(catalogue, n_positive=2)
    added = out.augmented_mask()
    last = pd.Series(catalogue.timestamps).groupby(catalogue.user_codes).max()
    np.testing.assert_array_equal(out.timestamps[added], last[out.user_codes[added]] - 1)
    # so each user's sequence (what SASRec trains on and serves from) ends with real rows
    indptr, sequence = out.user_sequences(random_state=0)
    real_indptr, real_sequence = catalogue.user_sequences(random_state=0)
    for user in range(out.n_users):
        assert sequence[indptr[user + 1] - 1] == real_sequence[real_indptr[user + 1] - 1]


def test_float_times_step_to_the_next_float_down(catalogue):
    frame = catalogue.to_pandas().assign(timestamp=lambda f: f["timestamp"] * 1.5)
    data = InteractionData.from_pandas(frame, catalogue.items, time_col="timestamp")
    _, out = _augment(data)
    added = out.augmented_mask()
    last = pd.Series(data.timestamps).groupby(data.user_codes).max()[out.user_codes[added]]
    assert (out.timestamps[added] < last.to_numpy()).all()
    np.testing.assert_allclose(out.timestamps[added], last)


# ---------------------------------------------------------------------- rating
def test_added_rows_get_the_users_mean_rating_not_one_star(catalogue):
    _, out = _augment(catalogue)
    added = out.augmented_mask()
    means = pd.Series(catalogue.ratings).groupby(catalogue.user_codes).mean()
    np.testing.assert_allclose(out.ratings[added], means[out.user_codes[added]])
    cells = out.to_csr(values="ratings")[out.user_codes[added], out.item_codes[added]]
    np.testing.assert_allclose(np.asarray(cells).ravel(), means[out.user_codes[added]])
    # EASE with ratings sees the user's mean, times the row weight, where NaN read as 1 star
    EASERecommender(implicit=False).fit(out)


@pytest.mark.parametrize("rating, expected", [("user_max", [5.0, 2.0, 5.0, 3.0, 4.0]),
                                              (4.5, [4.5] * 5)])
def test_augmented_rating_options(catalogue, rating, expected):
    augmenter = LLMInteractionAugmenter(encoder=HashingEncoder(16),
                                        strategy=EmbeddingNeighbors(augmented_rating=rating))
    out = augmenter.fit_resample(catalogue)
    added = out.augmented_mask()
    np.testing.assert_allclose(out.ratings[added], np.array(expected)[out.user_codes[added]])


def test_data_without_ratings_keeps_none(catalogue):
    data = InteractionData.from_pandas(catalogue.to_pandas().drop(columns="rating"),
                                       catalogue.items, time_col="timestamp")
    _, out = _augment(data)
    assert out.ratings is None


# ---------------------------------------------------------------------- triples
def test_triples_do_not_add_their_positive_again(catalogue):
    """LLMRec's (user, positive, negative): one sample, at the added row's weight."""
    _, out = _augment(catalogue, sample_negatives=True)
    triples = out.artifacts["negatives"]
    assert len(triples) == 5
    rows = TrainingRows.from_data(out, np.random.default_rng(0))
    known = KnownPairs(rows.users, rows.items, rows.n_users, rows.n_items)
    sampler = PairwiseSampler(rows, known, triples, loss="bpr", n_negatives=1, batch_size=4,
                              device="cpu")
    users, items, weights, explicit = sampler._samples
    assert len(sampler) == len(rows) == len(out)  # no extra sample per triple
    with_negative = explicit >= 0
    assert with_negative.sum() == 5
    np.testing.assert_allclose(weights[with_negative], 0.5)  # the augmented weight
    got = sorted(zip(users[with_negative].tolist(), items[with_negative].tolist(),
                     explicit[with_negative].tolist(), strict=True))
    assert got == sorted(map(tuple, triples.tolist()))


def test_triples_without_a_row_stay_extra_samples(catalogue):
    rows = TrainingRows.from_data(catalogue, np.random.default_rng(0))
    known = KnownPairs(rows.users, rows.items, rows.n_users, rows.n_items)
    # (0, 0) is a row of user 1 (item "a"); (0, 7) is not a row; (0, 0) twice: one row only
    triples = np.array([[0, 0, 5], [0, 7, 6], [0, 0, 6]])
    sampler = PairwiseSampler(rows, known, triples, loss="bpr", n_negatives=1, batch_size=4,
                              device="cpu")
    users, items, weights, explicit = sampler._samples
    assert len(sampler) == len(rows) + 2
    assert explicit[:len(rows)].tolist().count(5) == 1
    assert sorted(zip(users[len(rows):].tolist(), items[len(rows):].tolist(),
                      explicit[len(rows):].tolist(), strict=True)) == [(0, 0, 6), (0, 7, 6)]
    np.testing.assert_array_equal(weights[len(rows):], 1.0)


# ---------------------------------------------------------------------- retriever
def test_a_recommender_retriever_is_cloned_and_fitted_on_the_training_rows(catalogue):
    train, test = train_test_split_interactions(catalogue, LeaveLastOut(random_state=0))
    everything = PopularityRecommender().fit(catalogue)  # saw the held-out rows
    before = everything.item_scores_.copy()
    augmenter, _ = _augment(train, retriever=everything)
    fitted = augmenter.retriever_.recommender_
    assert fitted is not everything
    np.testing.assert_array_equal(everything.item_scores_, before)  # left as it was
    own = PopularityRecommender().fit(train)
    np.testing.assert_array_equal(fitted.item_scores_, own.item_scores_)
    assert not np.array_equal(fitted.item_scores_, before)


def test_an_unfitted_recommender_retriever_works_in_grid_search(signal):
    data, _, train, _ = signal
    small = train.take(np.flatnonzero(train.user_codes < 40))
    pipe = make_pipeline(
        LLMInteractionAugmenter(preference_llm(_alphabetical), random_state=0,
                                strategy=LLMSelect(retriever=PopularityRecommender(),
                                                   scoring="likelihood", n_candidates=3)),
        PopularityRecommender())
    grid = {"llminteractionaugmenter__strategy__retriever__use_weights": [True, False]}
    search = GridSearchCV(pipe, grid, cv=LeaveLastOut(n_splits=2, random_state=0)).fit(small)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    fitted = search.best_estimator_[0]
    assert fitted.retriever_.recommender_ is not clone(pipe)[0].strategy.retriever
