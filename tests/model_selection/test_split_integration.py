"""The splitters as ``cv=`` in GridSearchCV and cross_val_score, scored by NDCG."""

import math
import warnings

import numpy as np
import pytest
from _split_doubles import NoisyPopularity, make_interactions
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skllmers.metrics import evaluate, make_rank_scorer
from skllmers.model_selection import (
    DroppedTestRowsWarning,
    LeaveLastOut,
    TemporalSplit,
    UserRandomSplit,
)

pytestmark = pytest.mark.filterwarnings("ignore::skllmers.model_selection.DroppedTestRowsWarning")


@pytest.fixture(scope="module")
def data():
    return make_interactions(n_users=80, n_items=60, max_rows=20, seed=1)


def loop_ndcg(model, X, train_idx, test_idx, k=10):
    """NDCG@k of a fitted NoisyPopularity, by a plain per-user loop over its scores_."""
    seen = {}
    for u, i in zip(X.user_codes[train_idx], X.item_codes[train_idx], strict=True):
        seen.setdefault(u, set()).add(i)
    held = {}
    for u, i in zip(X.user_codes[test_idx], X.item_codes[test_idx], strict=True):
        if i not in seen.get(u, set()):
            held.setdefault(u, set()).add(i)
    values = []
    for u, relevant in held.items():
        ranked = [i for i in np.argsort(-model.scores_[u]) if i not in seen.get(u, set())]
        dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(ranked[:k]) if i in relevant)
        ideal = sum(1 / math.log2(r + 2) for r in range(min(k, len(relevant))))
        values.append(dcg / ideal)
    return float(np.mean(values))


def test_grid_search_picks_by_ndcg(data):
    cv = LeaveLastOut(n_splits=2, random_state=0)
    search = GridSearchCV(NoisyPopularity(), {"noise": [50.0, 0.0, 10.0]}, cv=cv)
    search.fit(data)
    assert search.best_params_ == {"noise": 0.0}
    assert search.best_score_ == pytest.approx(search.cv_results_["mean_test_score"].max())
    splits = list(cv.split(data))
    assert len(splits) == 2
    for candidate, noise in enumerate([50.0, 0.0, 10.0]):
        for fold, (train_idx, test_idx) in enumerate(splits):
            model = NoisyPopularity(noise=noise).fit(data.take(train_idx))
            expected = loop_ndcg(model, data, train_idx, test_idx)
            got = search.cv_results_[f"split{fold}_test_score"][candidate]
            assert got == pytest.approx(expected, rel=1e-6)
    # popularity beats a random ranking by a wide margin on this skewed data
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > 2 * scores[0]


def test_grid_search_with_rank_scorers_and_refit(data):
    search = GridSearchCV(
        NoisyPopularity(), {"noise": [0.0, 50.0]},
        cv=UserRandomSplit(0.2, n_splits=2, random_state=0),
        scoring={"ndcg@10": make_rank_scorer(), "hr@5": make_rank_scorer("hit_rate", k=5)},
        refit="ndcg@10",
    ).fit(data)
    assert search.best_params_ == {"noise": 0.0}
    assert {"mean_test_ndcg@10", "mean_test_hr@5"} <= set(search.cv_results_)
    assert hasattr(search.best_estimator_, "scores_")


def test_cross_val_score_equals_evaluate_per_fold(data):
    cv = UserRandomSplit(0.25, n_splits=3, random_state=2)
    model = NoisyPopularity()
    scores = cross_val_score(model, data, cv=cv, scoring=make_rank_scorer("recall", k=5))
    default = cross_val_score(model, data, cv=cv)  # the recommender's score: NDCG@10
    assert len(scores) == 3
    for fold, (train_idx, test_idx) in enumerate(cv.split(data)):
        result = evaluate(clone(model), data.take(train_idx), data.take(test_idx),
                          metrics=["ndcg", "recall"], k=[5, 10]).iloc[0]
        assert scores[fold] == pytest.approx(result["recall@5"])
        assert default[fold] == pytest.approx(result["ndcg@10"])


def test_pipeline_in_grid_search(data):
    pipe = Pipeline([("identity", FunctionTransformer()), ("model", NoisyPopularity())])
    search = GridSearchCV(pipe, {"model__noise": [5.0, 0.0]},
                          cv=LeaveLastOut(random_state=0),
                          scoring=make_rank_scorer("ndcg", k=10)).fit(data)
    assert search.best_params_ == {"model__noise": 0.0}
    plain = GridSearchCV(NoisyPopularity(), {"noise": [5.0, 0.0]},
                         cv=LeaveLastOut(random_state=0)).fit(data)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               plain.cv_results_["mean_test_score"])


def test_temporal_split_as_cv(data):
    result = cross_validate(NoisyPopularity(), data, cv=TemporalSplit(cut=0.7),
                            scoring={"map@10": make_rank_scorer("map")})
    assert result["test_map@10"].shape == (1,)
    assert 0 < result["test_map@10"][0] <= 1


def test_drop_warning_reaches_the_user(data):
    with pytest.warns(DroppedTestRowsWarning):
        cross_val_score(NoisyPopularity(), data, cv=TemporalSplit(cut=0.7))


def test_library_recommender_in_grid_search(data):
    from skllmers.recommenders import EASERecommender

    search = GridSearchCV(EASERecommender(), {"l2": [1.0, 100.0]},
                          cv=LeaveLastOut(random_state=0)).fit(data)
    assert search.best_params_["l2"] in (1.0, 100.0)
    (train_idx, test_idx), = LeaveLastOut(random_state=0).split(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_hand = evaluate(EASERecommender(l2=search.best_params_["l2"]),
                           data.take(train_idx), data.take(test_idx), metrics=["ndcg"])
    assert search.best_score_ == pytest.approx(by_hand["ndcg@10"].iloc[0])
