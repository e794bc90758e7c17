"""Behaviour of the library-backed recommenders: Popularity, EASE, ALS, LightFM."""

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from skllmers import EmbeddingInit, GuidanceTargets, InteractionData
from skllmers.recommenders import (
    ALSRecommender,
    EASERecommender,
    LightFMRecommender,
    PopularityRecommender,
)

# ---------------------------------------------------------------------- learning


def test_personalised_models_beat_popularity(personalised_model, block_split):
    train, test = block_split
    baseline = PopularityRecommender().fit(train).score(test)
    ndcg = personalised_model.fit(train).score(test)
    assert baseline < 0.2
    assert ndcg > baseline + 0.25, (type(personalised_model).__name__, ndcg, baseline)


def test_recommendations_follow_the_clusters(personalised_model, block_split, block_clusters):
    train, _ = block_split
    model = personalised_model.fit(train)
    users = train.user_ids[:40]
    top = model.recommend(users, k=5)
    user_cluster = top["user_id"].str[1:].astype(int).to_numpy() % 4
    item_cluster = block_clusters[train.item_ids.get_indexer(top["item_id"])]
    assert np.mean(user_cluster == item_cluster) > 0.9


# ---------------------------------------------------------------------- popularity


def test_popularity_counts_rows_and_weights():
    frame = pd.DataFrame({"user_id": [1, 2, 3, 1, 2], "item_id": ["a", "a", "a", "b", "b"],
                          "w": [1.0, 1.0, 1.0, 4.0, 4.0]})
    data = InteractionData.from_pandas(frame, weight_col="w")
    weighted = PopularityRecommender().fit(data)
    counted = PopularityRecommender(use_weights=False).fit(data)
    np.testing.assert_allclose(weighted.item_scores_, [3.0, 8.0])
    np.testing.assert_allclose(counted.item_scores_, [3.0, 2.0])
    assert weighted.recommend([3], k=1)["item_id"].tolist() == ["b"]


def test_popularity_gives_every_user_the_same_ranking(block_split):
    train, _ = block_split
    model = PopularityRecommender().fit(train)
    scores = model._score_users(np.arange(5))
    assert (scores == scores[0]).all()
    assert np.argmax(scores[0]) == np.argmax(model.item_scores_)


# ---------------------------------------------------------------------- EASE


def _ease_by_regression(matrix, l2):
    """Column j of B solved directly: ridge regression of item j on the other items."""
    dense = matrix.toarray().astype(np.float64)
    n_items = dense.shape[1]
    weights = np.zeros((n_items, n_items))
    for j in range(n_items):
        others = np.delete(np.arange(n_items), j)
        inputs = dense[:, others]
        gram = inputs.T @ inputs + l2 * np.eye(n_items - 1)
        weights[others, j] = np.linalg.solve(gram, inputs.T @ dense[:, j])
    return weights


def test_ease_matches_the_constrained_ridge_solution():
    rng = np.random.default_rng(0)
    users, items = np.nonzero(rng.random((30, 7)) < 0.4)
    data = InteractionData.from_pandas(pd.DataFrame({"user_id": users, "item_id": items}))
    model = EASERecommender(l2=3.0).fit(data)
    expected = _ease_by_regression(data.to_csr(values="ones"), 3.0)
    np.testing.assert_allclose(model.B_, expected, atol=1e-5)
    assert np.all(np.diag(model.B_) == 0)
    np.testing.assert_allclose(model._score_users(np.arange(3)),
                               data.to_csr()[:3].toarray() @ model.B_, rtol=1e-5)


def test_ease_cells_use_weights_and_ratings():
    frame = pd.DataFrame({"user_id": [1, 1, 1, 2], "item_id": ["a", "a", "b", "b"],
                          "r": [4.0, 2.0, 5.0, 1.0], "w": [1.0, 1.0, 0.5, 1.0]})
    data = InteractionData.from_pandas(frame, rating_col="r", weight_col="w")
    implicit = EASERecommender(l2=1.0).fit(data).user_items_.toarray()
    explicit = EASERecommender(l2=1.0, implicit=False).fit(data).user_items_.toarray()
    np.testing.assert_allclose(implicit, [[1.0, 0.5], [0.0, 1.0]])  # repeats count once
    np.testing.assert_allclose(explicit, [[6.0, 2.5], [0.0, 1.0]])  # rating x weight, summed


def test_ease_explicit_needs_ratings(block_data):
    with pytest.raises(ValueError, match="uses ratings, but the data has none"):
        EASERecommender(implicit=False).fit(block_data)


def test_ease_refuses_large_catalogues(block_data):
    with pytest.raises(ValueError, match=r"80 items, more than max_items=50.*ALSRecommender"):
        EASERecommender(max_items=50).fit(block_data)
    EASERecommender(max_items=None).fit(block_data)


def test_ease_similar_items_follow_b(block_data, block_clusters):
    model = EASERecommender(l2=10.0).fit(block_data)
    similar = model.similar_items(["i0", "i25"], k=5)
    assert len(similar) == 10
    clusters = block_clusters[block_data.item_ids.get_indexer(similar["similar_item_id"])]
    np.testing.assert_array_equal(clusters, [0] * 5 + [1] * 5)
    best = model.B_[block_data.item_ids.get_loc("i0")].argmax()
    assert similar["similar_item_id"].iloc[0] == block_data.item_ids[best]


# ---------------------------------------------------------------------- ALS


def _cluster_vectors(clusters, permute=None):
    labels = clusters if permute is None else permute[clusters]
    return np.eye(4, dtype=np.float32)[labels]


def test_als_starts_from_item_embeddings(block_split, block_clusters):
    """After a single sweep, good starting vectors beat random and misleading ones."""
    train, test = block_split
    misleading = np.random.default_rng(1).integers(0, 4, len(block_clusters))
    model = ALSRecommender(n_factors=4, iterations=1, random_state=0, num_threads=1)

    def ndcg(vectors):
        data = train if vectors is None else train.with_artifacts(
            item_embeddings=EmbeddingInit(vectors))
        return model.fit(data).score(test)

    informed = ndcg(_cluster_vectors(block_clusters))
    random_start = ndcg(None)
    misled = ndcg(np.eye(4, dtype=np.float32)[misleading])
    assert informed > random_start + 0.1
    assert informed > misled + 0.1


def test_als_initial_vectors_must_match_width_and_items(block_split, block_clusters):
    train, _ = block_split
    vectors = _cluster_vectors(block_clusters)
    wide = train.with_artifacts(item_embeddings=EmbeddingInit(vectors))
    with pytest.raises(ValueError, match=r"width 4 .* n_factors=8: set n_factors=4"):
        ALSRecommender(n_factors=8, iterations=1).fit(wide)
    with pytest.raises(ValueError, match="10 rows but the data has 80 items"):
        train.with_artifacts(item_embeddings=EmbeddingInit(vectors[:10]))  # checked on attach


def test_als_accepts_a_mapping_as_embeddings(block_split, block_clusters):
    train, _ = block_split
    vectors = _cluster_vectors(block_clusters)
    as_dict = train.with_artifacts(item_embeddings={"vectors": vectors, "mode": "init"})
    as_init = train.with_artifacts(item_embeddings=EmbeddingInit(vectors))
    model = ALSRecommender(n_factors=4, iterations=1, random_state=0, num_threads=1)
    np.testing.assert_array_equal(model.fit(as_dict).item_factors_,
                                  model.fit(as_init).item_factors_)


def test_als_rejects_frozen_embeddings_and_guidance(block_split, block_clusters):
    train, _ = block_split
    frozen = train.with_artifacts(
        item_embeddings=EmbeddingInit(_cluster_vectors(block_clusters), mode="frozen"))
    with pytest.raises(ValueError, match="mode='frozen'.*BPRRecommender, LightGCNRecommender"):
        ALSRecommender(n_factors=4).fit(frozen)
    guided = train.with_artifacts(guidance=GuidanceTargets(item_targets=np.ones((80, 3))))
    with pytest.raises(ValueError, match="'guidance'.*SASRecRecommender"):
        ALSRecommender(n_factors=4).fit(guided)


def _artifact(key, data):
    rng = np.random.default_rng(0)
    return {
        "item_features": rng.normal(size=(data.n_items, 3)).astype(np.float32),
        "user_features": rng.normal(size=(data.n_users, 3)).astype(np.float32),
        "item_embeddings": EmbeddingInit(rng.normal(size=(data.n_items, 4))),
        "guidance": GuidanceTargets(item_targets=rng.normal(size=(data.n_items, 3))),
        "negatives": np.array([[0, 0, 1]]),
    }[key]


@pytest.mark.parametrize("model, key", [
    (PopularityRecommender(), "item_features"),
    (PopularityRecommender(), "guidance"),
    (EASERecommender(), "item_embeddings"),
    (EASERecommender(), "negatives"),
    (ALSRecommender(n_factors=4), "item_features"),
    (ALSRecommender(n_factors=4), "user_features"),
    (ALSRecommender(n_factors=4), "negatives"),
    (LightFMRecommender(epochs=1), "negatives"),
])
def test_an_artifact_the_model_cannot_use_raises_and_names_who_can(model, key, block_split):
    # never dropped without a word: the enhancer's work would be lost silently
    train, _ = block_split
    with pytest.raises(ValueError, match=rf"'{key}' artifact \(from .*\), which "
                                         rf"{type(model).__name__} cannot train with.*"
                                         r"Use .*Recommender"):
        model.fit(train.with_artifacts(**{key: _artifact(key, train)}))


@pytest.mark.parametrize("model, key", [
    (ALSRecommender(n_factors=4), "item_embeddings"),
    (LightFMRecommender(epochs=1), "item_features"),
    (LightFMRecommender(epochs=1), "user_features"),
])
def test_an_artifact_the_model_reads_is_accepted(model, key, block_split):
    train, _ = block_split
    model.fit(train.with_artifacts(**{key: _artifact(key, train)}))
    assert model.item_factors_.shape[0] == train.n_items


@pytest.mark.parametrize("model", [EASERecommender(), ALSRecommender(n_factors=4)])
def test_a_misspelled_artifact_key_raises_when_attached(model, block_split):
    # "item_embedding" for "item_embeddings": never accepted and then ignored by a model
    train, _ = block_split
    vectors = EmbeddingInit(np.ones((train.n_items, 4)))
    with pytest.raises(ValueError, match=r"Unknown artifact key 'item_embedding' \(did you "
                                         r"mean 'item_embeddings'\?\)(.|\n)*"
                                         r"'item_embeddings': .*written by "
                                         r"LLMEmbeddingInitializer; read by ALSRecommender"):
        model.fit(train.with_artifacts(item_embedding=vectors))


def test_the_registry_names_exactly_the_recommenders_that_read_each_key():
    # the error messages name the readers from the registry; they must be the truth
    from skllmers import recommenders
    from skllmers._artifacts import ARTIFACTS, check_model_artifacts

    # meta-estimators (TextFusionRecommender) pass what they do not read to their base
    meta = {"BaseRecommender", "TextFusionRecommender"}
    # EASE reads item vectors only as its semantic prior (beta set)
    reading = {"EASERecommender": {"beta": 1.0}}
    models = [getattr(recommenders, name) for name in recommenders.__all__
              if name.endswith("Recommender") and name not in meta]
    for key, spec in ARTIFACTS.items():
        registered = {reader.split(" ")[0] for reader in spec.read_by}
        readers = set()
        for cls in models:
            try:
                check_model_artifacts(cls(**reading.get(cls.__name__, {})), {key: None})
            except ValueError:
                continue
            readers.add(cls.__name__)
        assert readers == registered, key


def test_als_confidence_is_alpha_times_row_weights(block_split):
    """Doubling every row weight is the same as doubling alpha."""
    train, _ = block_split
    doubled = train._with_columns(weights=np.full(len(train), 2.0, np.float32))
    params = dict(n_factors=4, iterations=3, random_state=0, num_threads=1)
    by_weight = ALSRecommender(**params).fit(doubled)
    by_alpha = ALSRecommender(alpha=2.0, **params).fit(train)
    plain = ALSRecommender(**params).fit(train)
    np.testing.assert_allclose(by_weight.item_factors_, by_alpha.item_factors_, rtol=1e-5)
    assert not np.allclose(plain.item_factors_, by_alpha.item_factors_)


def test_als_keeps_numpy_factors_only(block_split):
    train, _ = block_split
    model = ALSRecommender(n_factors=4, iterations=2, random_state=0, num_threads=1).fit(train)
    assert isinstance(model.user_factors_, np.ndarray)
    assert model.user_factors_.shape == (train.n_users, 4)
    assert model.item_factors_.dtype == np.float32
    assert b"implicit" not in pickle.dumps(model)


def test_als_use_gpu_true_needs_cuda(block_split):
    import implicit.gpu

    if implicit.gpu.HAS_CUDA:
        pytest.skip("implicit has CUDA here")
    with pytest.raises(ValueError, match="use_gpu=True but implicit has no CUDA"):
        ALSRecommender(use_gpu=True).fit(block_split[0])


# ---------------------------------------------------------------------- LightFM


def test_lightfm_item_features_rank_rare_items(rare_item_split):
    train, test = rare_item_split
    params = dict(n_factors=8, epochs=10, random_state=0)
    with_features = LightFMRecommender(**params).fit(train)
    without = LightFMRecommender(use_features=False, **params).fit(train)
    assert with_features.n_item_features_ == 4 and without.n_item_features_ == 0
    assert with_features.score(test) > without.score(test) + 0.1


def test_lightfm_uses_user_features(block_split):
    train, _ = block_split
    rng = np.random.default_rng(0)
    data = train.with_artifacts(user_features=rng.normal(size=(train.n_users, 3)))
    params = dict(n_factors=4, epochs=2, random_state=0)
    model = LightFMRecommender(**params).fit(data)
    assert model.n_user_features_ == 3
    assert not np.allclose(model.user_factors_,
                           LightFMRecommender(use_features=False, **params).fit(data).user_factors_)


def test_lightfm_feature_artifacts_are_checked(block_split):
    train, _ = block_split
    # checked when attached, so no model ever sees them
    with pytest.raises(ValueError, match=r"'item_features' artifact has 3 rows but the data "
                                         "has 80 items"):
        train.with_artifacts(item_features=np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="NaN or infinite"):
        train.with_artifacts(item_features=np.full((80, 2), np.nan, np.float32))


def test_lightfm_rejects_embeddings_and_guidance(block_split):
    train, _ = block_split
    embedded = train.with_artifacts(item_embeddings=EmbeddingInit(np.ones((80, 4))))
    with pytest.raises(ValueError, match="as 'item_features' instead"):
        LightFMRecommender(epochs=1).fit(embedded)
    guided = train.with_artifacts(guidance=GuidanceTargets(item_targets=np.ones((80, 3))))
    with pytest.raises(ValueError, match="'guidance'.*BPRRecommender"):
        LightFMRecommender(epochs=1).fit(guided)


def test_lightfm_row_weights_are_sample_weights(block_split):
    train, _ = block_split
    augmented = train.with_added_rows(np.arange(20), np.full(20, 5), weight=0.25)
    params = dict(n_factors=4, epochs=3, random_state=0)
    model = LightFMRecommender(**params).fit(augmented)
    unweighted = augmented._with_columns(weights=None)
    other = LightFMRecommender(**params).fit(unweighted)
    assert np.isfinite(model.item_factors_).all()
    assert not np.allclose(model.item_factors_, other.item_factors_)
    with pytest.raises(ValueError, match="warp-kos' does not support row weights"):
        LightFMRecommender(loss="warp-kos", **params).fit(augmented)
    LightFMRecommender(loss="warp-kos", **params).fit(train)


def test_lightfm_scores_are_factor_products(block_split):
    train, _ = block_split
    model = LightFMRecommender(n_factors=4, epochs=2, random_state=0).fit(train)
    expected = model.user_factors_[:3] @ model.item_factors_.T + model.item_biases_
    np.testing.assert_allclose(model._score_users(np.arange(3)), expected, rtol=1e-6)


# ---------------------------------------------------------------------- serving


def test_recommend_k_rows_per_user_without_seen_items(fast_model, block_split):
    train, _ = block_split
    model = fast_model.fit(train)
    users = train.user_ids[:12]
    top = model.recommend(users, k=7)
    assert top["user_id"].tolist() == np.repeat(users, 7).tolist()
    assert (top["rank"].to_numpy().reshape(12, 7) == np.arange(1, 8)).all()
    assert (np.diff(top["score"].to_numpy().reshape(12, 7), axis=1) <= 0).all()
    training_pairs = _pairs(train.to_pandas())
    assert not _pairs(top) & training_pairs
    assert _pairs(model.recommend(users, k=7, exclude_seen=False)) & training_pairs


def _pairs(frame):
    return set(frame[["user_id", "item_id"]].itertuples(index=False, name=None))


def test_recommend_unknown_users(fast_model, block_split):
    train, _ = block_split
    model = fast_model.fit(train)
    with pytest.raises(KeyError, match="nobody"):
        model.recommend(["u0", "nobody"], k=3)
    top = model.recommend(["u0", "nobody"], k=3, unknown="popular")
    fallback = top.loc[top["user_id"] == "nobody", "item_id"].tolist()
    most_popular = train.item_ids[np.argsort(-model.item_popularity_, kind="stable")[:3]]
    assert fallback == most_popular.tolist()


def test_predict_maps_ids_by_value(fast_model, block_split):
    train, _ = block_split
    model = fast_model.fit(train)
    rows = train.to_pandas().iloc[[5, 0, 17, 3]]
    expected = model.predict(train.take([5, 0, 17, 3]))
    fresh = pd.concat([rows[["user_id", "item_id"]],
                       pd.DataFrame({"user_id": ["u1", "stranger"], "item_id": ["new", "i1"]})])
    rebuilt = InteractionData.from_pandas(fresh)
    assert not rebuilt.item_ids.equals(train.item_ids)
    scores = model.predict(rebuilt)
    np.testing.assert_allclose(scores[:4], expected, rtol=1e-5)
    assert np.isnan(scores[4:]).all()
    users = train.user_ids.get_indexer(rows["user_id"])
    items = train.item_ids.get_indexer(rows["item_id"])
    np.testing.assert_allclose(expected, model._score_users(users)[np.arange(4), items],
                               rtol=1e-5)


def test_similar_items_of_factor_models(block_data, block_clusters):
    for model in (ALSRecommender(n_factors=8, iterations=5, random_state=0, num_threads=1),
                  LightFMRecommender(n_factors=8, epochs=10, random_state=0)):
        similar = model.fit(block_data).similar_items(["i0", "i40"], k=4)
        clusters = block_clusters[block_data.item_ids.get_indexer(similar["similar_item_id"])]
        assert np.mean(clusters == [0] * 4 + [2] * 4) >= 0.75, type(model).__name__
        assert "i0" not in similar.loc[similar["item_id"] == "i0", "similar_item_id"].tolist()


def test_popularity_has_no_similar_items(block_data):
    with pytest.raises(NotImplementedError, match="no item representation"):
        PopularityRecommender().fit(block_data).similar_items(["i0"])


@pytest.mark.parametrize("make", [
    lambda v: ALSRecommender(n_factors=4, iterations=2, num_threads=1, verbose=v),
    lambda v: LightFMRecommender(n_factors=4, epochs=2, verbose=v),
], ids=["als", "lightfm"])
def test_verbose_shows_progress(make, block_split, capsys):
    make(False).fit(block_split[0])
    quiet = capsys.readouterr()
    make(True).fit(block_split[0])
    loud = capsys.readouterr()
    assert quiet.err == "" and quiet.out == ""
    assert loud.err or loud.out


def test_sparse_training_matrix_is_not_mutated(block_split):
    train, _ = block_split
    before = train.to_csr(values="weights")
    for model in (EASERecommender(), ALSRecommender(n_factors=4, iterations=1, alpha=3.0),
                  LightFMRecommender(epochs=1)):
        model.fit(train)
    after = train.to_csr(values="weights")
    assert (before != after).nnz == 0
    assert sp.issparse(after)
