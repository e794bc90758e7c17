"""TextFusionRecommender: a model's scores fused with text similarity, and tuning alpha."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from conftest import leave_last_out
from skllmers import EmbeddingInit, InteractionData
from skllmers.recommenders import (
    ALSRecommender,
    EASERecommender,
    LightFMRecommender,
    PopularityRecommender,
    TextFusionRecommender,
    tune_fusion_alpha,
)


@pytest.fixture(scope="module")
def clustered(block_data, block_clusters):
    """Block data split leave-last-out, with text vectors that know the clusters."""
    vectors = np.eye(4)[block_clusters] + 0.05 * np.random.default_rng(0).normal(
        size=(len(block_clusters), 4))
    data = block_data.with_artifacts(item_features=vectors)
    train_rows, test_rows = leave_last_out(data)
    return data[train_rows], data[test_rows], vectors


def test_alpha_zero_ranks_exactly_as_the_base(clustered):
    train, _, _ = clustered
    base = EASERecommender(l2=10.0).fit(train.without_artifacts("item_features"))
    fused = TextFusionRecommender(EASERecommender(l2=10.0), alpha=0.0).fit(train)
    users = train.user_ids[:50]
    mine = fused.recommend(users, k=10)[["user_id", "item_id"]]
    theirs = base.recommend(users, k=10)[["user_id", "item_id"]]
    pd.testing.assert_frame_equal(mine, theirs)
    np.testing.assert_array_equal(fused.base_.B_, base.B_)


def test_alpha_one_is_text_knn_of_the_history(clustered):
    train, _, vectors = clustered
    fused = TextFusionRecommender(PopularityRecommender(), alpha=1.0).fit(train)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    profile = train.to_csr(values="weights")[:5] @ unit
    expected = profile @ unit.T
    np.testing.assert_array_equal(np.argsort(-fused._score_users(np.arange(5)), axis=1),
                                  np.argsort(-expected, axis=1))


def test_text_lifts_a_weak_base_and_alpha_is_tuned_on_validation(clustered):
    train, test, _ = clustered
    fit_rows, valid_rows = leave_last_out(train)  # validation cut from training rows only
    fused = TextFusionRecommender(PopularityRecommender()).fit(train[fit_rows])
    table = tune_fusion_alpha(fused, train[valid_rows], alphas=[0.0, 0.5, 1.0])
    assert table.loc[0.5] > table.loc[0.0] + 0.2
    assert fused.alpha == table.idxmax()
    popular = PopularityRecommender().fit(train.without_artifacts("item_features")).score(test)
    assert TextFusionRecommender(PopularityRecommender(), alpha=fused.alpha).fit(
        train).score(test) > popular + 0.2


def test_cold_items_get_text_scores(clustered):
    train, _, _ = clustered
    frame = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": ["a", "b", "c", "c"]})
    table = pd.DataFrame(index=["a", "b", "c", "new"])
    data = InteractionData.from_pandas(frame, items=table).with_artifacts(
        item_features=np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [1.0, 0.05]]))
    fused = TextFusionRecommender(EASERecommender(l2=1.0), alpha=0.5).fit(data)
    assert fused.recommend([1], k=1)["item_id"].tolist() == ["new"]


def test_the_base_gets_the_vectors_only_when_it_trains_with_them(clustered):
    train, _, vectors = clustered
    lightfm = TextFusionRecommender(LightFMRecommender(n_factors=4, epochs=2, random_state=0),
                                    alpha=0.0).fit(train)
    alone = LightFMRecommender(n_factors=4, epochs=2, random_state=0).fit(train)
    np.testing.assert_array_equal(lightfm.base_.item_factors_, alone.item_factors_)
    # ALS cannot take 'item_features': it is removed, not an error
    als = ALSRecommender(n_factors=4, iterations=2, random_state=0, num_threads=1)
    TextFusionRecommender(als).fit(train)
    init = train.without_artifacts("item_features").with_artifacts(
        item_embeddings=EmbeddingInit(vectors.astype(np.float32)))
    by_init = TextFusionRecommender(PopularityRecommender(), alpha=1.0).fit(init)
    assert by_init.vector_source_ == "item_embeddings"


def test_fusion_needs_vectors_and_a_recommender(block_split):
    train, _ = block_split
    with pytest.raises(ValueError, match="needs item text vectors.*LLMSummaryFeaturizer"):
        TextFusionRecommender(PopularityRecommender()).fit(train)
    enhanced = train.with_artifacts(item_features=np.ones((train.n_items, 2)))
    with pytest.raises(TypeError, match="base must be a skllmers recommender"):
        TextFusionRecommender(_NotARecommender()).fit(enhanced)


class _NotARecommender:
    def fit(self, X):
        return self

    def recommend(self, users):
        return []


def test_tune_fusion_alpha_checks_its_input(clustered):
    train, test, _ = clustered
    fused = TextFusionRecommender(PopularityRecommender()).fit(train)
    with pytest.raises(ValueError, match="alphas must be"):
        tune_fusion_alpha(fused, test, alphas=[1.5])
    with pytest.raises(ValueError, match="metric='auc'"):
        tune_fusion_alpha(fused, test, metric="auc")


def test_fusion_clones_pickles_and_grid_searches(clustered, block_data):
    train, test, _ = clustered
    model = TextFusionRecommender(EASERecommender(l2=10.0), alpha=0.3)
    assert clone(model).get_params()["base__l2"] == 10.0
    fitted = model.fit(train)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored._score_users(np.arange(3)),
                                  fitted._score_users(np.arange(3)))
    search = GridSearchCV(TextFusionRecommender(PopularityRecommender()),
                          {"alpha": [0.0, 0.6]}, cv=[leave_last_out(train)])
    search.fit(train)
    assert search.best_params_ == {"alpha": 0.6}
