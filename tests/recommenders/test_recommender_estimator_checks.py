"""scikit-learn conventions for the library recommenders.

sklearn's ``check_estimator`` feeds 2-D arrays to ``fit``; a recommender takes an
InteractionData. So the checks that need no fitted 2-D data run one by one below, and
the ones that do are re-stated on InteractionData.
"""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils import estimator_checks
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted

from skllmers import InteractionData
from skllmers.recommenders import (
    ALSRecommender,
    EASERecommender,
    LightFMRecommender,
    PopularityRecommender,
)

MODELS = [PopularityRecommender, EASERecommender, ALSRecommender, LightFMRecommender]

# sklearn 1.9 checks that never fit on 2-D data, or that fail before looking at it:
# check_param_validation and check_estimators_unfitted raise on the parameters or on
# the unfitted state before X is read.
SKLEARN_CHECKS = [
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_mixin_order",
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_param_validation",
    "check_estimators_unfitted",
]


@pytest.mark.filterwarnings("ignore:.*set_params:UserWarning")
@pytest.mark.parametrize("check_name", SKLEARN_CHECKS)
@pytest.mark.parametrize("Model", MODELS, ids=lambda m: m.__name__)
def test_sklearn_check(Model, check_name):
    getattr(estimator_checks, check_name)(Model.__name__, Model())


# ---------------------------------------------------------------------- fit contract


def test_fit_returns_self_and_leaves_params_alone(fast_model, block_data):
    params = fast_model.get_params()
    before = {name: joblib.hash(value) for name, value in params.items()}
    public_before = {k: v for k, v in vars(fast_model).items() if not k.endswith("_")}
    assert fast_model.fit(block_data) is fast_model
    assert {name: joblib.hash(v) for name, v in fast_model.get_params().items()} == before
    added = set(vars(fast_model)) - set(public_before)
    assert added and all(name.endswith("_") or name.startswith("_") for name in added)
    assert all(vars(fast_model)[k] is v for k, v in public_before.items())


def test_fit_is_idempotent_and_refits_from_scratch(fast_model, block_split):
    train, test = block_split
    first = clone(fast_model).fit(train).predict(test)
    refitted = fast_model.fit(test).fit(train)
    np.testing.assert_allclose(refitted.predict(test), first, rtol=1e-5)
    assert refitted.n_users_ == train.n_users


def test_invalid_params_fail_before_fitting(block_data):
    model = ALSRecommender(n_factors=0)
    with pytest.raises(InvalidParameterError, match="'n_factors' parameter of ALSRecommender"):
        model.fit(block_data)
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    with pytest.raises(InvalidParameterError, match="'loss' parameter of LightFMRecommender"):
        LightFMRecommender(loss="logistic").fit(block_data)
    with pytest.raises(InvalidParameterError, match="'l2' parameter of EASERecommender"):
        EASERecommender(l2=-1.0).fit(block_data)


@pytest.mark.parametrize("Model", MODELS, ids=lambda m: m.__name__)
def test_fit_needs_interaction_data(Model):
    with pytest.raises(TypeError, match="expects an InteractionData"):
        Model().fit(np.ones((5, 2)))


def test_unfitted_models_refuse_to_serve(fast_model):
    for call in (lambda m: m.recommend(["u0"]), lambda m: m.similar_items(["i0"])):
        with pytest.raises(NotFittedError):
            call(fast_model)


# ---------------------------------------------------------------------- clone, pickle


def test_clone_keeps_params_and_drops_state(fast_model, block_data):
    fitted = fast_model.fit(block_data)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    with pytest.raises(NotFittedError):
        check_is_fitted(copy)


def test_pickle_and_joblib_round_trip(fast_model, block_split, tmp_path):
    train, test = block_split
    model = fast_model.fit(train)
    users = train.user_ids[:20]
    expected = model.recommend(users, k=5)
    joblib.dump(model, tmp_path / "model.joblib")
    for restored in (pickle.loads(pickle.dumps(model)), joblib.load(tmp_path / "model.joblib")):
        assert restored.recommend(users, k=5).equals(expected)
        np.testing.assert_array_equal(restored.predict(test), model.predict(test))


# ---------------------------------------------------------------------- pipelines


class AttachItemFeatures(TransformerMixin, BaseEstimator):
    """A stand-in enhancer: attaches fixed item features to the data."""

    def __init__(self, features=None):
        self.features = features

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X.with_artifacts(item_features=self.features)


def test_model_as_last_pipeline_step(fast_model, block_split):
    train, test = block_split
    pipe = Pipeline([("rec", clone(fast_model))]).fit(train)
    model = fast_model.fit(train)
    assert pipe.score(test) == pytest.approx(model.score(test))
    np.testing.assert_allclose(pipe.predict(test), model.predict(test), rtol=1e-6)


def test_pipeline_step_feeds_features_to_lightfm(rare_item_data):
    data, train, test = rare_item_data
    features = data.artifacts["item_features"]
    plain = InteractionData(data.user_codes, data.item_codes, user_ids=data.user_ids,
                            item_ids=data.item_ids)  # the features come from the step
    pipe = Pipeline([("features", AttachItemFeatures(features)),
                     ("rec", LightFMRecommender(n_factors=8, epochs=10, random_state=0))])
    pipe.fit(plain.take(train))
    assert pipe.named_steps["rec"].n_item_features_ == 4
    no_features = LightFMRecommender(n_factors=8, epochs=10, random_state=0)
    assert pipe.score(plain.take(test)) > no_features.fit(plain.take(train)).score(
        plain.take(test)) + 0.1


# ---------------------------------------------------------------------- model selection


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_grid_search_with_leave_last_out(block_data):
    from skllmers.model_selection import LeaveLastOut

    model = ALSRecommender(iterations=5, random_state=0, num_threads=1)
    search = GridSearchCV(model, {"n_factors": [1, 8]}, cv=LeaveLastOut(random_state=0),
                          error_score="raise")
    search.fit(block_data)
    assert search.best_params_ == {"n_factors": 8}
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0] + 0.1
    assert search.best_estimator_.n_users_ == block_data.n_users
    assert len(search.best_estimator_.recommend(["u0"], k=3)) == 3


def test_grid_search_over_a_pipeline(rare_item_data):
    data, train, test = rare_item_data
    pipe = Pipeline([("rec", LightFMRecommender(n_factors=8, epochs=10, random_state=0))])
    grid = {"rec__use_features": [False, True], "rec__n_factors": [8]}
    search = GridSearchCV(pipe, grid, cv=[(train, test)], error_score="raise").fit(data)
    assert search.best_params_ == {"rec__n_factors": 8, "rec__use_features": True}

