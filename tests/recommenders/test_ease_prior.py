"""EASE with L3AE's semantic prior, and EASE's handling of augmented rows' ratings."""

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from conftest import leave_last_out
from skllmers import EmbeddingInit, InteractionData
from skllmers.recommenders import EASERecommender, semantic_item_matrix


def _random_data(n_users=30, n_items=7, density=0.4, seed=0, n_cold=0):
    rng = np.random.default_rng(seed)
    users, items = np.nonzero(rng.random((n_users, n_items)) < density)
    frame = pd.DataFrame({"user_id": users, "item_id": items})
    table = pd.DataFrame(index=pd.Index(range(n_items + n_cold), name="item_id"))
    return InteractionData.from_pandas(frame, items=table)


def _prior_by_regression(dense, l2, beta, semantic):
    """Column j solved directly: ridge of item j on the other items, pulled toward S[:, j]."""
    n_items = dense.shape[1]
    weights = np.zeros((n_items, n_items))
    for j in range(n_items):
        others = np.delete(np.arange(n_items), j)
        inputs = dense[:, others]
        lhs = inputs.T @ inputs + (l2 + beta) * np.eye(n_items - 1)
        rhs = inputs.T @ dense[:, j] + beta * semantic[others, j]
        weights[others, j] = np.linalg.solve(lhs, rhs)
    return weights


@pytest.mark.parametrize("kind, k", [("cosine", None), ("lae", None), ("cosine", 3)])
def test_prior_matches_the_column_wise_constrained_solution(kind, k):
    data = _random_data()
    vectors = np.random.default_rng(1).normal(size=(data.n_items, 4))
    model = EASERecommender(l2=3.0, beta=2.0, semantic=kind, semantic_k=k).fit(
        data.with_artifacts(item_features=vectors))
    semantic = semantic_item_matrix(vectors, kind, k=k)
    expected = _prior_by_regression(data.to_csr(values="ones").toarray(), 3.0, 2.0, semantic)
    np.testing.assert_allclose(model.B_, expected, atol=1e-5)
    assert np.all(np.diag(model.B_) == 0)


def test_prior_matches_a_generic_constrained_solver():
    """The whole objective, minimised by SLSQP with diag(B) = 0 as equality constraints."""
    data = _random_data(n_users=20, n_items=5, seed=3)
    dense = data.to_csr(values="ones").toarray()
    n = dense.shape[1]
    vectors = np.random.default_rng(4).normal(size=(n, 3))
    semantic = semantic_item_matrix(vectors, "cosine")
    l2, beta = 1.5, 4.0

    def objective(flat):
        weights = flat.reshape(n, n)
        return (np.sum((dense - dense @ weights) ** 2) + l2 * np.sum(weights ** 2)
                + beta * np.sum((weights - semantic) ** 2))

    constraints = [{"type": "eq", "fun": lambda flat, j=j: flat[j * n + j]} for j in range(n)]
    found = scipy.optimize.minimize(objective, np.zeros(n * n), method="SLSQP",
                                    constraints=constraints,
                                    options={"ftol": 1e-12, "maxiter": 500})
    assert found.success, found.message
    model = EASERecommender(l2=l2, beta=beta, semantic="cosine").fit(
        data.with_artifacts(item_features=vectors))
    np.testing.assert_allclose(model.B_, found.x.reshape(n, n), atol=1e-4)


def test_beta_zero_is_plain_ease():
    data = _random_data(n_cold=2)
    vectors = np.random.default_rng(1).normal(size=(data.n_items, 4))
    plain = EASERecommender(l2=5.0).fit(data)
    for artifact in ({"item_features": vectors},
                     {"item_embeddings": EmbeddingInit(vectors)}):
        zero = EASERecommender(l2=5.0, beta=0.0).fit(data.with_artifacts(**artifact))
        np.testing.assert_array_equal(zero.B_, plain.B_)
    np.testing.assert_array_equal(EASERecommender(l2=5.0, beta=0.0).fit(data).B_, plain.B_)
    assert zero.semantic_source_ is None
    with pytest.raises(ValueError, match="beta=3.0 pulls.*no 'item_features' or "
                                         "'item_embeddings' artifact.*beta=None"):
        EASERecommender(l2=5.0, beta=3.0).fit(data)


def test_small_beta_is_close_to_plain_ease_and_large_beta_moves_toward_s():
    data = _random_data()
    vectors = np.random.default_rng(1).normal(size=(data.n_items, 4))
    enhanced = data.with_artifacts(item_features=vectors)
    plain = EASERecommender(l2=5.0).fit(data).B_
    semantic = semantic_item_matrix(vectors, "cosine")
    near = EASERecommender(l2=5.0, beta=1e-6, semantic="cosine").fit(enhanced).B_
    far = EASERecommender(l2=1e-3, beta=1e6, semantic="cosine").fit(enhanced).B_
    np.testing.assert_allclose(near, plain, atol=1e-5)
    np.testing.assert_allclose(far, semantic, atol=1e-3)


def test_a_cold_item_gets_scores_from_its_text():
    # items 0-3 are warm; item 4 has no training row and the text of item 0
    rows = [(u, i) for u in range(12) for i in ((0, 1) if u % 2 else (2, 3))]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    table = pd.DataFrame(index=pd.Index(range(5), name="item_id"))
    by_id = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.9, 0.1], [1, 0, 0.05]])
    data = InteractionData.from_pandas(frame, items=table)
    data = data.with_artifacts(item_features=by_id[data.item_ids.to_numpy()])  # by code
    cold = data.item_ids.get_loc(4)
    plain = EASERecommender(l2=1.0, beta=0.0).fit(data)
    prior = EASERecommender(l2=1.0, beta=1.0, semantic="cosine").fit(data)
    assert np.all(plain._score_users(np.arange(12))[:, cold] == 0)
    scores = prior._score_users(data.user_ids.get_indexer(range(12)))[:, cold]
    assert np.all(scores[1::2] > 0.1)  # users of items 0 and 1: the cold item is like them
    assert np.all(scores[1::2] > scores[0::2] + 0.1)
    top = prior.recommend([1], k=1)["item_id"].tolist()
    assert top == [4]  # the only unseen item near the user's history


def test_item_embeddings_artifact_is_read_like_features():
    data = _random_data()
    vectors = np.random.default_rng(2).normal(size=(data.n_items, 3))
    by_features = EASERecommender(l2=2.0, beta=1.0).fit(
        data.with_artifacts(item_features=vectors))
    by_init = EASERecommender(l2=2.0, beta=1.0).fit(
        data.with_artifacts(item_embeddings=EmbeddingInit(vectors)))
    np.testing.assert_allclose(by_init.B_, by_features.B_, atol=1e-6)
    assert by_init.semantic_source_ == "item_embeddings"


def test_negative_l2_is_allowed_when_the_total_ridge_is_positive():
    data = _random_data()
    vectors = np.random.default_rng(1).normal(size=(data.n_items, 4))
    enhanced = data.with_artifacts(item_features=vectors)
    model = EASERecommender(l2=-1.0, beta=3.0, semantic="cosine").fit(enhanced)
    semantic = semantic_item_matrix(vectors, "cosine")
    expected = _prior_by_regression(data.to_csr(values="ones").toarray(), -1.0, 3.0, semantic)
    np.testing.assert_allclose(model.B_, expected, atol=1e-5)
    with pytest.raises(ValueError, match=r"plus beta must be > 0.*l2 \+ beta = -1.0"):
        EASERecommender(l2=-4.0, beta=3.0).fit(enhanced)
    with pytest.raises(ValueError, match="must be > 0 without a semantic prior"):
        EASERecommender(l2=-1.0).fit(data)


def test_vectors_without_beta_raise_and_say_to_set_it():
    data = _random_data()
    enhanced = data.with_artifacts(item_features=np.ones((data.n_items, 2)))
    with pytest.raises(ValueError, match=r"'item_features' artifact.*Set beta"):
        EASERecommender().fit(enhanced)


def test_both_vector_artifacts_or_wrong_rows_raise():
    data = _random_data()
    vectors = np.ones((data.n_items, 2))
    both = data.with_artifacts(item_features=vectors, item_embeddings=EmbeddingInit(vectors))
    with pytest.raises(ValueError, match="both an 'item_features' and an 'item_embeddings'"):
        EASERecommender(beta=1.0).fit(both)
    with pytest.raises(ValueError, match="one row per item code"):  # refused when attached
        data.with_artifacts(item_features=vectors[:3])


def test_semantic_matrix_top_k_and_zero_rows():
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.5, 0.5], [0.0, 0.0]])
    full = semantic_item_matrix(vectors, "cosine")
    assert np.all(np.diag(full) == 0) and np.all(full[3] == 0) and np.all(full[:, 3] == 0)
    top = semantic_item_matrix(vectors, "cosine", k=1)
    assert np.all((top != 0).sum(axis=0)[:3] == 1)
    assert top[1, 0] == pytest.approx(full[1, 0])
    lae = semantic_item_matrix(vectors, "lae", l2=0.5)
    assert np.all(np.diag(lae) == 0) and lae[1, 0] > 0
    with pytest.raises(ValueError, match="kind='dot'"):
        semantic_item_matrix(vectors, "dot")


@pytest.mark.parametrize("n_items, width", [(12, 3), (4, 6)])
def test_lae_matrix_equals_its_definition(n_items, width):
    """The low-rank (Woodbury) form equals ``I - Q / diag(Q)``, ``Q = (F Fᵀ + l2 I)⁻¹``."""
    vectors = np.random.default_rng(5).normal(size=(n_items, width))
    vectors[1] = 0.0  # an item without text
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-300)
    precision = np.linalg.inv(unit @ unit.T + 0.7 * np.eye(n_items))
    expected = np.eye(n_items) - precision / np.diag(precision)
    np.testing.assert_allclose(semantic_item_matrix(vectors, "lae", l2=0.7), expected,
                               atol=1e-10)


@pytest.mark.parametrize("kind, k", [("lae", None), ("lae", 2), ("cosine", None)])
def test_prior_fit_equals_the_dense_formula(kind, k):
    """The fit never forms ``S`` densely (without k) yet gives ``B`` of the dense formula."""
    data = _random_data(n_users=40, n_items=9, seed=7)
    vectors = np.random.default_rng(8).normal(size=(data.n_items, 3))
    model = EASERecommender(l2=2.0, beta=5.0, semantic=kind, semantic_l2=0.5,
                            semantic_k=k).fit(data.with_artifacts(item_features=vectors))
    dense = data.to_csr(values="ones").toarray()
    semantic = semantic_item_matrix(vectors, kind, l2=0.5, k=k)
    gram = dense.T @ dense
    precision = np.linalg.inv(gram + 7.0 * np.eye(data.n_items))
    target = precision @ (gram + 5.0 * semantic)
    expected = target - precision * (np.diag(target) / np.diag(precision))
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.B_, expected, atol=1e-5)


def test_beta_is_grid_searchable_and_clones(block_data, block_clusters):
    vectors = np.eye(4)[block_clusters] + 0.01  # the clusters, as text would tell them
    model = EASERecommender(l2=10.0, beta=0.0)
    assert clone(model).get_params()["beta"] == 0.0
    search = GridSearchCV(model, {"beta": [0.0, 30.0]}, cv=[leave_last_out(block_data)])
    search.fit(block_data.with_artifacts(item_features=vectors))
    assert set(search.cv_results_["param_beta"]) == {0.0, 30.0}
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


# ---------------------------------------------------------------------- ratings


def test_explicit_ease_gives_augmented_rows_their_users_mean_rating():
    frame = pd.DataFrame({"user_id": [1, 1, 2], "item_id": ["a", "b", "a"],
                          "r": [4.0, 5.0, 2.0]})
    data = InteractionData.from_pandas(frame, rating_col="r",
                                       items=pd.DataFrame(index=["a", "b", "c"]))
    augmented = data.with_added_rows([0, 1], [2, 1], weight=0.5)  # (1, c) and (2, b)
    cells = EASERecommender(l2=1.0, implicit=False).fit(augmented).user_items_.toarray()
    # user 1's mean is 4.5, user 2's is 2.0; times the rows' weight 0.5 — never 1 star
    np.testing.assert_allclose(cells, [[4.0, 5.0, 2.25], [2.0, 1.0, 0.0]])
