"""skllmers.pipeline: enhancers at fit time only, serving and scoring through the Pipeline."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline as SklearnPipeline

import skllmers
from skllmers import LLMEmbeddingInitializer
from skllmers.datasets import make_text_signal
from skllmers.llm.testing import HashingEncoder
from skllmers.model_selection import LeaveLastOut, train_test_split_interactions
from skllmers.pipeline import Pipeline, make_pipeline
from skllmers.recommenders import BPRRecommender, EASERecommender, PopularityRecommender

CALLS = []  # (step class, method) of every call, shared by clones


class Marker(TransformerMixin, BaseEstimator):
    """An enhancer that logs its calls and returns X unchanged."""

    def fit(self, X, y=None):
        CALLS.append(("Marker", "fit"))
        self.fitted_ = True
        return self

    def transform(self, X):
        CALLS.append(("Marker", "transform"))
        return X


class HalveWeights(BaseEstimator):
    """A fit-only resampler: halves the weight of every other row; transform must not run."""

    def __init__(self, factor=0.5):
        self.factor = factor

    def fit_resample(self, X, y=None):
        CALLS.append(("HalveWeights", "fit_resample"))
        weights = X.row_weights().copy()
        weights[::2] *= self.factor
        self.n_resampled_ = len(X)
        return X.with_weights(weights)

    def fit(self, X, y=None):
        self.fit_resample(X, y)
        return self

    def transform(self, X):
        raise AssertionError("a resampler's transform must never be called")


class TupleResampler(BaseEstimator):
    """imbalanced-learn style: fit_resample returns (X, y), and there is no transform."""

    def fit_resample(self, X, y=None):
        CALLS.append(("TupleResampler", "fit_resample"))
        return X.take(np.arange(len(X) - 1)), y


class FailingResampler(BaseEstimator):
    def fit_resample(self, X, y=None):
        raise RuntimeError("boom")


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()


@pytest.fixture(scope="module")
def split():
    data = make_text_signal(n_users=40, n_items=60, interactions_per_user=8, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, test = train_test_split_interactions(data, LeaveLastOut(random_state=0))
    return data, train, test


def _pipe(**ease):
    return make_pipeline(Marker(), HalveWeights(), EASERecommender(**ease))


def test_fit_runs_every_step_and_resamplers_through_fit_resample(split):
    _, train, _ = split
    pipe = _pipe().fit(train)
    assert CALLS == [("Marker", "fit"), ("Marker", "transform"),
                     ("HalveWeights", "fit_resample")]
    assert isinstance(pipe.steps[1][1], HalveWeights)  # unwrapped after fit
    assert pipe.steps[1][1].n_resampled_ == len(train)
    # the recommender saw the resampled weights: the same as fitting on them directly
    weights = train.row_weights().copy()
    weights[::2] *= 0.5
    direct = EASERecommender().fit(train.with_weights(weights))
    np.testing.assert_allclose(pipe[-1].predict(train), direct.predict(train), rtol=1e-5)


def test_serving_goes_straight_to_the_recommender(split):
    data, train, _ = split
    pipe = _pipe().fit(train)
    CALLS.clear()
    users = list(data.user_ids[:3])
    assert pipe.recommend(users, k=4).equals(pipe[-1].recommend(users, k=4))
    assert pipe.recommend(users, k=2, exclude_seen=False).equals(
        pipe[-1].recommend(users, k=2, exclude_seen=False))
    items = list(data.item_ids[:2])
    assert pipe.similar_items(items, k=3).equals(pipe[-1].similar_items(items, k=3))
    assert CALLS == []


def test_predict_and_score_run_no_step(split):
    _, train, test = split
    pipe = _pipe().fit(train)
    CALLS.clear()
    np.testing.assert_array_equal(pipe.predict(test), pipe[-1].predict(test))
    assert pipe.score(test) == pipe[-1].score(test)
    assert CALLS == []
    with pytest.raises(ValueError, match="no sample_weight"):
        pipe.score(test, sample_weight=np.ones(len(test)))


def test_score_equals_the_final_steps_score_with_a_real_enhancer(split):
    """An enhancer whose artifact the model trains with; held-out scoring skips it."""
    _, train, test = split

    class CountingEncoder(HashingEncoder):
        def embed(self, texts):
            CALLS.append(("encoder", len(texts)))
            return super().embed(texts)

    pipe = make_pipeline(
        LLMEmbeddingInitializer(encoder=CountingEncoder(embed_dim=32), n_components=8,
                                unseen_items="encode"),
        BPRRecommender(n_factors=8, epochs=2, random_state=0, device="cpu"),
    ).fit(train)
    assert CALLS and CALLS[0][0] == "encoder"
    CALLS.clear()
    score = pipe.score(test)
    assert score == pipe[-1].score(test)
    # scikit-learn's Pipeline gives the same number, after running the enhancer again
    assert SklearnPipeline(pipe.steps).score(test) == pytest.approx(score, abs=0)
    assert 0 < score <= 1
    pipe.recommend([train.user_ids[0]], k=3)
    assert CALLS == []


def test_grid_search_with_leave_last_out(split):
    data, train, test = split
    search = GridSearchCV(_pipe(), {"easerecommender__l2": [1.0, 500.0],
                                    "halveweights__factor": [0.5, 1.0]},
                          cv=LeaveLastOut(random_state=0), error_score="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(train)
    best = search.best_estimator_
    assert isinstance(best, Pipeline)
    assert ("HalveWeights", "fit_resample") in CALLS
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    top = best.recommend([data.user_ids[0]], k=5)
    assert top["rank"].tolist() == [1, 2, 3, 4, 5]
    assert best.score(test) == best[-1].score(test)


def test_a_fold_score_is_the_final_steps_score_on_that_fold(split):
    _, train, _ = split
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_rows, held_out = next(LeaveLastOut(random_state=0).split(train))
        search = GridSearchCV(_pipe(), {"easerecommender__l2": [50.0]},
                              cv=[(fit_rows, held_out)]).fit(train)
    manual = EASERecommender(l2=50.0)
    weights = train[fit_rows].row_weights().copy()
    weights[::2] *= 0.5
    manual.fit(train[fit_rows].with_weights(weights))
    assert search.cv_results_["split0_test_score"][0] == pytest.approx(
        manual.score(train[held_out]), abs=1e-12)


def test_clone_and_pickle(split):
    data, train, test = split
    pipe = _pipe(l2=10.0)
    cloned = clone(pipe)
    assert isinstance(cloned, Pipeline) and cloned.get_params()["easerecommender__l2"] == 10.0
    fitted = cloned.fit(train)
    restored = pickle.loads(pickle.dumps(fitted))
    assert isinstance(restored, Pipeline)
    users = list(data.user_ids[:2])
    assert restored.recommend(users, k=3).equals(fitted.recommend(users, k=3))
    assert restored.score(test) == fitted.score(test)
    assert isinstance(fitted[:2], Pipeline)  # slicing keeps the class


def test_a_resampler_without_transform_and_returning_a_pair(split):
    _, train, test = split
    pipe = make_pipeline(TupleResampler(), PopularityRecommender()).fit(train)
    assert pipe[-1].seen_.sum() < train.to_csr(values="ones").nnz + 1
    assert CALLS == [("TupleResampler", "fit_resample")]
    assert pipe.score(test) == pipe[-1].score(test)


def test_transform_skips_resamplers(split):
    _, train, _ = split
    pipe = make_pipeline(HalveWeights(), Marker()).fit(train)  # a transformer last
    CALLS.clear()
    assert pipe.transform(train) is train
    assert CALLS == [("Marker", "transform")]


def test_a_failing_resampler_leaves_the_steps_as_they_were(split):
    _, train, _ = split
    failing = FailingResampler()
    pipe = make_pipeline(Marker(), failing, PopularityRecommender())
    with pytest.raises(RuntimeError, match="boom"):
        pipe.fit(train)
    assert pipe.steps[1][1] is failing


def test_memory_caches_resamplers_too(split, tmp_path):
    _, train, test = split
    pipe = Pipeline(_pipe().steps, memory=str(tmp_path))
    pipe.fit(train)
    assert isinstance(pipe.steps[1][1], HalveWeights)
    assert pipe.steps[1][1].n_resampled_ == len(train)
    assert pipe.score(test) == _pipe().fit(train).score(test)


def test_passthrough_steps_and_names():
    pipe = make_pipeline(Marker(), "passthrough", EASERecommender(), verbose=False)
    assert [name for name, _ in pipe.steps] == ["marker", "passthrough", "easerecommender"]
    assert skllmers.Pipeline is Pipeline and skllmers.make_pipeline is make_pipeline


def test_serving_needs_a_recommender_last(split):
    _, train, _ = split
    pipe = make_pipeline(Marker(), Marker()).fit(train)
    assert not hasattr(pipe, "recommend") and not hasattr(pipe, "similar_items")
