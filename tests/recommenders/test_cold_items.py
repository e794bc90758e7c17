"""Cold items (a code and text, no training row) get real scores from their text."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone

from conftest import item_clusters, make_block_data
from skllmers import EmbeddingInit
from skllmers.metrics import evaluate
from skllmers.model_selection import ColdItemSplit, DroppedTestRowsWarning
from skllmers.recommenders import (
    ALSRecommender,
    BaseRecommender,
    BPRRecommender,
    ColdStartBridge,
    EASERecommender,
    LightFMRecommender,
    LightGCNRecommender,
)


@pytest.fixture(scope="module")
def cold_split():
    """Block data whose item text is its cluster (one-hot + noise); a quarter of the
    items held out whole. Ranking among ~20 cold items, ~5 of the user's cluster."""
    data = make_block_data(n_users=160, per_user=8, noise=1, seed=1)
    rng = np.random.default_rng(0)
    text = np.eye(4, dtype=np.float32)[item_clusters(data)]
    text += rng.normal(0, 0.15, text.shape).astype(np.float32)
    data = data.with_artifacts(item_features=text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedTestRowsWarning)
        train, test = next(ColdItemSplit(test_size=0.25, random_state=0).split(data))
    return data.take(train), data.take(test), text


def cold_ndcg(model, train, test):
    return float(evaluate(model, train, test, metrics=["ndcg"], k=5,
                          candidates="cold")["ndcg@5"].iloc[0])


class RandomScores(BaseRecommender):
    def __init__(self, random_state=0):
        self.random_state = random_state

    def _fit(self, X):
        self.rng_ = np.random.default_rng(self.random_state)

    def _score_users(self, user_codes):
        return self.rng_.random((len(user_codes), self.n_items_))


def random_ndcg(train, test):
    """NDCG@5 of random orders of the cold items (mean of 5 draws)."""
    return float(np.mean([cold_ndcg(RandomScores(seed), without_text(train), test)
                          for seed in range(5)]))


def without_text(data):
    return data.without_artifacts("item_features")


def als():
    return ALSRecommender(n_factors=8, iterations=10, random_state=0, num_threads=1,
                          use_gpu=False)


def test_a_plain_factor_model_cannot_rank_cold_items(cold_split):
    train, test, _ = cold_split
    floor = random_ndcg(train, test)
    assert floor < 0.45
    plain = cold_ndcg(als(), without_text(train), test)
    assert plain < floor + 0.15


@pytest.mark.parametrize("make", [
    als,
    lambda: BPRRecommender(n_factors=8, epochs=40, batch_size=256, learning_rate=0.05,
                           random_state=0, device="cpu"),
    lambda: LightGCNRecommender(n_factors=8, n_layers=2, epochs=40, batch_size=256,
                                learning_rate=0.05, random_state=0, device="cpu"),
], ids=["als", "bpr", "lightgcn"])
def test_bridge_ranks_cold_items_from_text(make, cold_split):
    train, test, _ = cold_split
    floor = random_ndcg(train, test)
    bridged = cold_ndcg(ColdStartBridge(make()), train, test)
    assert bridged > floor + 0.35, (bridged, floor)


def test_bridge_keeps_warm_factors_and_predicts_cold_ones(cold_split):
    train, _, text = cold_split
    model = ColdStartBridge(als(), alphas=[0.1, 1.0, 10.0]).fit(train)
    inner = model.recommender_
    trained = np.bincount(train.item_codes, minlength=train.n_items) > 0
    np.testing.assert_array_equal(model.cold_items_, np.flatnonzero(~trained))
    np.testing.assert_allclose(model.item_factors_[trained], inner.item_factors_[trained])
    np.testing.assert_allclose(model.user_factors_, inner.user_factors_)
    predicted = model.regressor_.predict(text[model.cold_items_])
    np.testing.assert_allclose(model.item_factors_[model.cold_items_], predicted, rtol=1e-5)
    assert model.alpha_ in (0.1, 1.0, 10.0)
    assert model.vectors_key_ == "item_features"

    class Recording(type(inner)):
        def _fit(self, X):
            self.artifacts_seen_ = sorted(X.artifacts)
            super()._fit(X)

    def artifacts_seen(pass_vectors):
        data = train.with_artifacts(item_embeddings=EmbeddingInit(text @ np.ones((4, 8))))
        bridge = ColdStartBridge(Recording(**als().get_params()), vectors="item_embeddings",
                                 pass_vectors=pass_vectors)
        return bridge.fit(data.without_artifacts("item_features")).recommender_.artifacts_seen_

    assert artifacts_seen(False) == []
    assert artifacts_seen(True) == ["item_embeddings"]


def test_bridge_alpha_is_chosen_by_leave_one_out(cold_split):
    train, _, _ = cold_split
    chosen = ColdStartBridge(als(), alphas=[1e-3, 1e2, 1e6]).fit(train)
    assert chosen.alpha_ < 1e6  # a huge penalty predicts the mean: worst LOO error
    fixed = ColdStartBridge(als(), alphas=1e6).fit(train)
    assert fixed.alpha_ == 1e6
    spread = np.ptp(fixed.item_factors_[fixed.cold_items_], axis=0).max()
    assert spread < 1e-2


def test_bridge_reads_item_embeddings_and_maps_lightfm_biases(cold_split):
    train, test, text = cold_split
    data = without_text(train).with_artifacts(
        item_embeddings=EmbeddingInit(text, mode="frozen", add_id_embedding=False))
    model = ColdStartBridge(BPRRecommender(n_factors=8, epochs=5, batch_size=256,
                                           random_state=0, device="cpu")).fit(data)
    assert model.vectors_key_ == "item_embeddings"
    lightfm = ColdStartBridge(LightFMRecommender(n_factors=8, epochs=10, random_state=0))
    lightfm.fit(train)
    assert lightfm.item_biases_.shape == (train.n_items,)
    np.testing.assert_allclose(
        lightfm.item_biases_[lightfm.cold_items_],
        lightfm.regressor_.predict(text[lightfm.cold_items_])[:, -1], rtol=1e-5)


def test_bridge_serves_like_any_recommender(cold_split):
    train, test, _ = cold_split
    model = ColdStartBridge(als()).fit(train)
    cold_ids = train.item_ids[model.cold_items_]
    top = model.recommend(train.user_ids[:5], k=3, items=cold_ids)
    assert len(top) == 15 and set(top["item_id"]) <= set(cold_ids)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.predict(test), model.predict(test))
    params = clone(model).get_params()
    assert params["recommender__n_factors"] == 8 and params["vectors"] == "auto"


def test_bridge_errors_name_the_fix(cold_split):
    train, _, _ = cold_split
    with pytest.raises(ValueError, match="neither an 'item_features' nor"):
        ColdStartBridge(als()).fit(without_text(train))
    with pytest.raises(ValueError, match="vectors='item_embeddings'.*does not carry"):
        ColdStartBridge(als(), vectors="item_embeddings").fit(train)
    with pytest.raises(TypeError, match="EASE takes text through"):
        ColdStartBridge(EASERecommender()).fit(train)
    with pytest.raises(ValueError, match="alphas must be positive"):
        ColdStartBridge(als(), alphas=[0.0]).fit(train)
    with pytest.raises(ValueError, match="one row per item code"):
        ColdStartBridge(als()).fit(train.with_artifacts(item_features=np.ones((3, 2))))


def test_lightfm_scores_cold_items_from_their_features(cold_split):
    train, test, _ = cold_split
    floor = random_ndcg(train, test)
    model = LightFMRecommender(n_factors=8, epochs=20, random_state=0)
    with_features = cold_ndcg(model, train, test)
    assert model.n_cold_items_ == len(np.unique(test.item_codes))
    assert with_features > floor + 0.35, (with_features, floor)
    # a cold item's representation is its feature embeddings alone, no identity row
    lightfm = pytest.importorskip("lightfm")
    assert lightfm is not None
    cold = np.unique(test.item_codes)
    features, _ = model._features(train, "item_features", train.n_items,
                                  no_identity=np.isin(np.arange(train.n_items), cold))
    assert features[cold, :train.n_items].nnz == 0
    without = cold_ndcg(LightFMRecommender(n_factors=8, epochs=20, random_state=0),
                        without_text(train), test)
    assert without < floor + 0.15


@pytest.mark.parametrize("model_class", [BPRRecommender, LightGCNRecommender])
def test_frozen_text_without_id_embedding_scores_cold_items(model_class, cold_split):
    """AlphaRec-style: the item table is adapter(frozen text), so any item with text
    has a representation; with an ID embedding too, a cold item's ID part is noise."""
    train, test, text = cold_split
    data = without_text(train).with_artifacts(
        item_embeddings=EmbeddingInit(text, mode="frozen", add_id_embedding=False))
    options = dict(n_factors=8, epochs=40, batch_size=256, learning_rate=0.05,
                   random_state=0, device="cpu")
    if model_class is LightGCNRecommender:
        options["n_layers"] = 2
    model = model_class(**options)
    floor = random_ndcg(train, test)
    score = cold_ndcg(model, data, test)
    assert score > floor + 0.35, (score, floor)
    assert np.linalg.norm(model.item_factors_[np.unique(test.item_codes)], axis=1).min() > 0


def test_a_fitted_model_is_bridged_without_refitting(cold_split):
    frozen = pytest.importorskip("sklearn.frozen")
    train, test, _ = cold_split
    inner = als().fit(without_text(train))
    before = inner.item_factors_.copy()
    model = ColdStartBridge(frozen.FrozenEstimator(inner)).fit(train)
    np.testing.assert_array_equal(inner.item_factors_, before)  # not refitted, not changed
    fresh = ColdStartBridge(als()).fit(train)
    np.testing.assert_allclose(model.item_factors_, fresh.item_factors_, rtol=1e-4,
                               atol=1e-5)


def test_bridge_takes_any_regressor(cold_split):
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import GridSearchCV

    train, test, text = cold_split
    floor = random_ndcg(train, test)
    kernel = ColdStartBridge(als(), regressor=KernelRidge(kernel="rbf", alpha=0.1))
    assert cold_ndcg(kernel, train, test) > floor + 0.35
    assert kernel.alpha_ == 0.1 and isinstance(kernel.regressor_, KernelRidge)
    np.testing.assert_allclose(kernel.item_factors_[kernel.cold_items_],
                               kernel.regressor_.predict(text[kernel.cold_items_]),
                               rtol=1e-5, atol=1e-6)
    search = GridSearchCV(KernelRidge(kernel="rbf"), {"alpha": [0.01, 1.0]}, cv=3)
    tuned = ColdStartBridge(als(), regressor=search).fit(train)
    assert tuned.alpha_ in (0.01, 1.0)
    assert kernel.regressor is not kernel.regressor_  # cloned


class ClusterEncoder:
    """A text encoder double: a text "cluster k" becomes a noisy one-hot of k."""

    def embed(self, texts):
        rng = np.random.default_rng(len(texts))
        clusters = np.array([int(text.split()[-1]) for text in texts])
        return np.eye(4)[clusters] + rng.normal(0, 0.15, (len(texts), 4))


def test_bridge_in_a_pipeline_tuned_on_cold_items_by_grid_search():
    import pandas as pd
    from sklearn.dummy import DummyRegressor
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    from skllmers import LLMEmbeddingInitializer
    from skllmers.metrics import make_rank_scorer

    data = make_block_data(n_users=160, per_user=8, noise=1, seed=2)
    items = pd.DataFrame({"title": [f"cluster {c}" for c in item_clusters(data)]},
                         index=data.item_ids)
    data = data.__class__(data.user_codes, data.item_codes, user_ids=data.user_ids,
                          item_ids=data.item_ids, timestamps=data.timestamps, items=items)
    pipe = make_pipeline(
        LLMEmbeddingInitializer(ClusterEncoder(), n_components=None, reduction=None),
        ColdStartBridge(als()))
    mean_item = DummyRegressor()  # every cold item gets the mean factors: all tie
    search = GridSearchCV(pipe, {"coldstartbridge__regressor": [mean_item, None]},
                          cv=ColdItemSplit(test_size=0.25, n_splits=2, random_state=0),
                          scoring=make_rank_scorer("ndcg", k=5, candidates="cold"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedTestRowsWarning)
        search.fit(data)
    assert search.best_params_ == {"coldstartbridge__regressor": None}
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0] + 0.2  # the map from text beats the mean item
