"""The LLM hooks of the torch recommenders: each changes what is learned as it should."""

import numpy as np
import pytest
import torch
from test_torch_data import (  # noqa: F401  (one_torch_thread is an autouse fixture)
    clustered_data,
    cuda,
    fitted,
    item_clusters,
    leave_last_out,
    linear_cka,
    make_model,
    one_torch_thread,
    rare_item_data,
)

from skllmers import EmbeddingInit, GuidanceTargets
from skllmers.recommenders import _bpr

MODELS = ["bpr", "lightgcn", "sasrec"]
PAIRWISE = ["bpr", "lightgcn"]


@pytest.fixture(scope="module")
def split():
    return leave_last_out(clustered_data())


@pytest.fixture(scope="module")
def rare():
    return rare_item_data()


@pytest.fixture(scope="module")
def targets(split):
    """Random item targets, and user targets that average the user's items' targets
    (as GuidanceRegularizer's profiles of a user's history do)."""
    train, _ = split
    items = np.random.default_rng(5).normal(size=(train.n_items, 12)).astype(np.float32)
    seen = train.to_csr(values="ones")
    seen = seen.multiply(1 / seen.sum(axis=1)).tocsr()
    return items, np.asarray(seen @ items, dtype=np.float32)


def rank_of(model, users, items):
    """How many items each user scores above the given item (0 = top)."""
    scores = model.user_factors_[users] @ model.item_factors_.T
    own = scores[np.arange(len(users)), items]
    return (scores > own[:, None]).sum(axis=1).mean()


def assert_same_model(first, second):
    np.testing.assert_array_equal(first.item_factors_, second.item_factors_)
    np.testing.assert_array_equal(first.user_factors_, second.user_factors_)


# ---------------------------------------------------------------------- guidance
@pytest.mark.parametrize("kind", ["contrastive", "generative", "distillation"])
@pytest.mark.parametrize("name", MODELS)
def test_guidance_of_weight_zero_is_the_unguided_model(name, kind, split, targets):
    # weight 0 is no guidance at all, so even BPR and SASRec take kind="generative"
    train, _ = split
    guidance = GuidanceTargets(*targets, weight=0.0, kind=kind)
    assert_same_model(fitted(name, train),
                      make_model(name).fit(train.with_artifacts(guidance=guidance)))


@cuda
@pytest.mark.parametrize("name", MODELS)
def test_guidance_of_weight_zero_on_cuda_is_the_unguided_model(name, split, targets):
    train, _ = split  # up to CUDA's rounding (see test_torch_models)
    guidance = GuidanceTargets(*targets, weight=0.0, kind="contrastive")
    plain = make_model(name, device="cuda").fit(train)
    zero = make_model(name, device="cuda").fit(train.with_artifacts(guidance=guidance))
    np.testing.assert_allclose(zero.item_factors_, plain.item_factors_, atol=1e-4)


@pytest.mark.parametrize("name, kind, mask_ratio", [
    *[(name, "contrastive", 0.1) for name in MODELS], ("lightgcn", "generative", 0.5)])
def test_guidance_aligns_embeddings_with_the_targets(name, kind, mask_ratio, split, targets):
    train, _ = split
    item_targets, user_targets = targets
    guidance = GuidanceTargets(item_targets, user_targets, weight=0.5, kind=kind,
                               mask_ratio=mask_ratio)
    params = {"learning_rate": 0.01} if name == "sasrec" else {}  # move faster
    plain = fitted(name, train, **params)
    guided = make_model(name, **params).fit(train.with_artifacts(guidance=guidance))

    def alignment(model):
        return (linear_cka(model.item_factors_, item_targets)
                + linear_cka(model.user_factors_, user_targets)) / 2

    assert alignment(guided) > alignment(plain) + 0.05


def neighbour_agreement(factors, targets, k=5):
    """Mean cosine between each row's factors and the mean of its k target-space
    neighbours' factors."""
    from skllmers.recommenders._torch._guidance import nearest_neighbors

    target = torch.from_numpy(targets)
    neighbors = nearest_neighbors(target, target.abs().sum(dim=1) > 0, k).numpy()
    teacher = factors[neighbors].mean(axis=1)
    cosine = (factors * teacher).sum(axis=1) / (
        np.linalg.norm(factors, axis=1) * np.linalg.norm(teacher, axis=1) + 1e-12)
    return float(cosine.mean())


@pytest.mark.parametrize("name", MODELS)
def test_distillation_pulls_rows_toward_their_llm_neighbours(name, split, targets):
    train, _ = split
    item_targets, user_targets = targets
    guidance = GuidanceTargets(item_targets, user_targets, weight=1.0, kind="distillation",
                               n_neighbors=5)
    params = {"learning_rate": 0.01} if name == "sasrec" else {}
    plain = fitted(name, train, **params)
    guided = make_model(name, **params).fit(train.with_artifacts(guidance=guidance))
    assert (neighbour_agreement(guided.item_factors_, item_targets)
            > neighbour_agreement(plain.item_factors_, item_targets) + 0.05)


@pytest.mark.parametrize("name", MODELS)
def test_guidance_on_items_only(name, split, targets):
    train, _ = split
    guidance = {"item_targets": targets[0], "weight": 0.5}  # a mapping works too
    plain = fitted(name, train)
    guided = make_model(name).fit(train.with_artifacts(guidance=guidance))
    assert (linear_cka(guided.item_factors_, targets[0])
            > linear_cka(plain.item_factors_, targets[0]) + 0.1)


def test_guidance_skips_codes_without_target(split, targets, monkeypatch):
    # rows of zeros mean "no target": all-zero targets leave nothing to align. A guided
    # model trains through autograd, so compare with the plain model trained that way
    # (not in closed form, which rounds differently).
    train, _ = split
    empty = GuidanceTargets(item_targets=np.zeros_like(targets[0]), weight=1.0)
    guided = make_model("bpr").fit(train.with_artifacts(guidance=empty))
    monkeypatch.setattr(_bpr, "is_plain_table", lambda table: False)
    assert_same_model(make_model("bpr").fit(train), guided)


def test_guidance_with_targets_for_other_codes_raises(split, targets):
    train, _ = split
    guidance = GuidanceTargets(item_targets=targets[0][:-1])
    with pytest.raises(ValueError, match="item_targets have 59 rows but the data has 60"):
        train.with_artifacts(guidance=guidance)  # checked when attached


# ---------------------------------------------------------------------- item embeddings
@pytest.mark.parametrize("name, learning_rate", [("bpr", 0.01), ("sasrec", 0.003)])
def test_init_from_informative_vectors_helps_rare_items(name, learning_rate, rare):
    # (Adam moves every row it updates by about the learning rate: too large a rate
    # washes out the starting point; LightGCN is left out, as the single misleading
    # edge of a rare item dominates its propagated representation)
    train, test, vectors = rare
    init = EmbeddingInit(vectors * (0.1 / vectors.std()), mode="init")
    plain = fitted(name, train, learning_rate=learning_rate).score(test)
    started = make_model(name, learning_rate=learning_rate).fit(
        train.with_artifacts(item_embeddings=init)).score(test)
    assert started > plain + 0.04


@pytest.mark.parametrize("name, params", [("bpr", {}), ("lightgcn", {"n_layers": 0}),
                                          ("sasrec", {})])
def test_init_starts_the_item_table_from_the_vectors(name, params, rare):
    train, _, vectors = rare
    vectors = vectors * (0.1 / vectors.std())
    model = make_model(name, epochs=1, learning_rate=1e-6, **params)
    model.fit(train.with_artifacts(item_embeddings=EmbeddingInit(vectors)))
    np.testing.assert_allclose(model.item_factors_, vectors, atol=1e-4)


@pytest.mark.parametrize("name, params", [("bpr", {}), ("lightgcn", {"n_layers": 0})])
@pytest.mark.parametrize("mode", ["init", "frozen"])
def test_user_embeddings_start_the_user_table(name, params, mode, split):
    train, _ = split
    vectors = np.random.default_rng(1).normal(size=(train.n_users, 16)).astype(np.float32)
    model = make_model(name, epochs=1, learning_rate=1e-6, **params)
    model.fit(train.with_artifacts(
        user_embeddings=EmbeddingInit(vectors * 0.1, mode=mode, add_id_embedding=False)))
    if mode == "init":
        np.testing.assert_allclose(model.user_factors_, vectors * 0.1, atol=1e-4)
    else:  # an affine map of the frozen vectors: rank <= width + 1, whatever training did
        centred = model.user_factors_ - model.user_factors_.mean(axis=0)
        design = np.hstack([vectors, np.ones((len(vectors), 1))])
        residual = centred - design @ np.linalg.lstsq(design, centred, rcond=None)[0]
        assert np.abs(residual).max() < 1e-4


def test_sasrec_and_als_refuse_user_embeddings(split):
    from skllmers.recommenders import ALSRecommender

    train, _ = split
    data = train.with_artifacts(user_embeddings=EmbeddingInit(np.ones((train.n_users, 16))))
    with pytest.raises(ValueError, match="no user embedding table.*target='items'"):
        make_model("sasrec").fit(data)
    with pytest.raises(ValueError, match="'user_embeddings' artifact.*BPRRecommender or "
                                         "LightGCNRecommender"):
        ALSRecommender(n_factors=16).fit(data)


def test_user_embeddings_of_another_shape_raise(split):
    train, _ = split
    wide = EmbeddingInit(np.ones((train.n_users, 32)))
    with pytest.raises(ValueError, match="'user_embeddings' vectors have width 32.*user table"):
        make_model("bpr").fit(train.with_artifacts(user_embeddings=wide))
    short = EmbeddingInit(np.ones((train.n_users - 1, 16)))
    with pytest.raises(ValueError, match="one row per user code"):
        train.with_artifacts(user_embeddings=short)  # checked when attached


@pytest.mark.parametrize("name", MODELS)
def test_init_of_another_width_raises_a_clear_error(name, rare):
    train, _, vectors = rare
    data = train.with_artifacts(item_embeddings=EmbeddingInit(np.hstack([vectors, vectors])))
    with pytest.raises(ValueError, match=r"width 32 .* n_factors=16.*n_components=16\).*"
                                         r"mode='frozen'"):
        make_model(name).fit(data)


@pytest.mark.parametrize("name, params", [("bpr", {}), ("lightgcn", {"n_layers": 0}),
                                          ("sasrec", {})])
def test_frozen_vectors_without_id_keep_the_llm_geometry(name, params, rare):
    # the item factors are an affine map of the frozen vectors, whatever training did
    # (LightGCN's propagated factors also mix in the neighbours: no layers here)
    train, _, vectors = rare
    frozen = EmbeddingInit(np.hstack([vectors, vectors[:, :4]]), mode="frozen",
                           add_id_embedding=False)
    model = make_model(name, **params).fit(train.with_artifacts(item_embeddings=frozen))
    design = np.hstack([frozen.vectors, np.ones((len(vectors), 1), np.float32)])
    fitted, *_ = np.linalg.lstsq(design, model.item_factors_, rcond=None)
    residual = model.item_factors_ - design @ fitted
    assert np.linalg.norm(residual) < 1e-3 * np.linalg.norm(model.item_factors_)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("adapter", ["linear", "mlp"])
def test_frozen_vectors_help_rare_items(name, adapter, rare):
    train, test, vectors = rare
    frozen = EmbeddingInit(vectors, mode="frozen", add_id_embedding=False)
    plain = fitted(name, train).score(test)  # (the adapter is unused without vectors)
    adapted = make_model(name, adapter=adapter).fit(
        train.with_artifacts(item_embeddings=frozen)).score(test)
    assert adapted > plain + 0.04


def test_frozen_vectors_with_id_embedding_stay_closer_to_the_llm_geometry(rare):
    train, _, vectors = rare
    frozen = EmbeddingInit(vectors, mode="frozen", add_id_embedding=True)
    plain = fitted("bpr", train)
    dual = make_model("bpr").fit(train.with_artifacts(item_embeddings=frozen))
    assert linear_cka(dual.item_factors_, vectors) > linear_cka(plain.item_factors_, vectors) + 0.1


# ---------------------------------------------------------------------- side features
@pytest.mark.parametrize("name", MODELS)
def test_item_features_help_rare_items(name, rare):
    train, test, vectors = rare
    plain = fitted(name, train).score(test)
    featured = make_model(name).fit(train.with_artifacts(item_features=vectors)).score(test)
    assert featured > plain + 0.04


@pytest.mark.parametrize("name", PAIRWISE)
def test_user_features_shape_the_user_factors(name, split):
    train, _ = split
    clusters = np.asarray(train.user_ids) % 3
    features = np.eye(3, dtype=np.float32)[clusters]
    plain = fitted(name, train)
    featured = make_model(name).fit(train.with_artifacts(user_features=features))
    assert linear_cka(featured.user_factors_, features) > linear_cka(plain.user_factors_, features)


def test_sasrec_rejects_user_features(split):
    train, _ = split
    data = train.with_artifacts(user_features=np.ones((train.n_users, 2), np.float32))
    with pytest.raises(ValueError, match="'user_features'.*no user embedding"):
        make_model("sasrec").fit(data)


@pytest.mark.parametrize("bad, message", [
    (np.ones((59, 3)), "has 59 rows but the data has 60 items"),
    (np.full((60, 3), np.nan), "NaN"),
    (np.ones(60), "must be 2-D"),
])
def test_bad_item_features_raise(bad, message, split):
    train, _ = split
    with pytest.raises(ValueError, match=message):
        train.with_artifacts(item_features=bad)  # checked when attached


# ---------------------------------------------------------------------- augmented rows
@pytest.fixture(scope="module")
def out_of_cluster_rows(split):
    """60 (user, item) pairs of unseen items from another cluster than the user's."""
    train, _ = split
    rng = np.random.default_rng(0)
    clusters, seen = item_clusters(train), train.to_csr(values="ones").toarray() > 0
    users = rng.choice(train.n_users, 60, replace=False)
    user_clusters = np.asarray(train.user_ids)[users] % 3
    items = [rng.choice(np.flatnonzero((clusters != c) & ~seen[u]))
             for u, c in zip(users, user_clusters, strict=True)]
    return users, np.array(items)


@pytest.mark.parametrize("name", MODELS)
def test_augmented_rows_of_weight_zero_are_no_rows(name, split, out_of_cluster_rows):
    train, _ = split
    augmented = train.with_added_rows(*out_of_cluster_rows, weight=0.0)
    assert_same_model(fitted(name, train), make_model(name).fit(augmented))


@pytest.mark.parametrize("name", MODELS)
def test_augmented_rows_raise_their_items_by_their_weight(name, split, out_of_cluster_rows):
    train, _ = split
    users, items = out_of_cluster_rows
    ranks = [rank_of(fitted(name, train), users, items)] + [
        rank_of(make_model(name).fit(train.with_added_rows(users, items, weight=w)), users,
                items) for w in (0.3, 3.0)]
    assert ranks[0] > ranks[1] > ranks[2]


# ---------------------------------------------------------------------- explicit negatives
@pytest.fixture(scope="module")
def triples(split):
    """(user, seen item, unseen item of the user's cluster) for 60 users."""
    train, _ = split
    rng = np.random.default_rng(1)
    clusters, seen = item_clusters(train), train.to_csr(values="ones").toarray() > 0
    rows = []
    for user in rng.choice(train.n_users, 60, replace=False):
        liked = np.flatnonzero((clusters == np.asarray(train.user_ids)[user] % 3) & ~seen[user])
        rows.append((user, rng.choice(np.flatnonzero(seen[user])), rng.choice(liked)))
    return np.array(rows)


@pytest.mark.parametrize("name, loss", [("bpr", "bpr"), ("bpr", "bce"),
                                        ("bpr", "sampled_softmax"), ("lightgcn", "bpr"),
                                        ("lightgcn", "bce")])
def test_explicit_negatives_lower_their_scores(name, loss, split, triples):
    train, _ = split
    params = dict(loss=loss, n_negatives=16 if loss == "sampled_softmax" else 1)
    plain = fitted(name, train, **params)
    taught = make_model(name, **params).fit(train.with_artifacts(negatives=triples))
    users, negatives = triples[:, 0], triples[:, 2]
    assert rank_of(taught, users, negatives) > rank_of(plain, users, negatives) + 1.5


def test_empty_negatives_change_nothing(split):
    train, _ = split
    empty = np.zeros((0, 3), dtype=np.int64)
    assert_same_model(fitted("bpr", train),
                      make_model("bpr").fit(train.with_artifacts(negatives=empty)))


def test_sasrec_rejects_explicit_negatives(split, triples):
    train, _ = split
    with pytest.raises(ValueError, match="'negatives'.*has no position"):
        make_model("sasrec").fit(train.with_artifacts(negatives=triples))


@pytest.mark.parametrize("bad, error, message", [
    (np.zeros((4, 2), np.int64), ValueError, r"shape \(m, 3\)"),
    (np.zeros((4, 3)), TypeError, "integer codes"),
    (np.full((4, 3), 999), ValueError, "user codes outside"),
])
def test_bad_negatives_raise(bad, error, message, split):
    train, _ = split
    with pytest.raises(error, match=message):
        train.with_artifacts(negatives=bad)  # checked when attached


def test_item_embeddings_must_be_an_embedding_init(split):
    train, _ = split
    with pytest.raises(TypeError, match=r"must be an EmbeddingInit.*EmbeddingInit\(vectors\)"):
        train.with_artifacts(item_embeddings=np.ones((60, 16)))
