"""ALSRecommender(prior_weight=...): item factors pulled toward text vectors in every step."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from skllmers import EmbeddingInit, InteractionData
from skllmers.recommenders import ALSRecommender
from skllmers.recommenders._als import _least_squares


def test_least_squares_is_the_weighted_ridge_solution():
    rng = np.random.default_rng(0)
    confidence = sp.random(6, 9, density=0.4, random_state=1, format="csr") * 4
    fixed = rng.normal(size=(9, 3))
    prior = rng.normal(size=(6, 3))
    got = _least_squares(confidence, fixed, 0.5, prior, 2.0)
    dense = confidence.toarray()
    for row in range(6):
        weights = np.where(dense[row] > 0, dense[row], 1.0)  # unobserved: confidence 1
        preference = (dense[row] > 0).astype(float)
        lhs = fixed.T @ (weights[:, None] * fixed) + 2.5 * np.eye(3)
        rhs = fixed.T @ (weights * preference) + 2.0 * prior[row]
        np.testing.assert_allclose(got[row], np.linalg.solve(lhs, rhs), atol=1e-10)


def _cold_item_data():
    """Two user groups with four items each; item "cold" has no row and group 1's text."""
    rows = [(u, f"g{u % 2}_{i}") for u in range(40) for i in range(4)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    items = pd.DataFrame(index=[*frame["item_id"].unique(), "cold"])
    data = InteractionData.from_pandas(frame, items=items)
    group = np.array([1 if str(i).startswith("g1") or i == "cold" else 0
                      for i in data.item_ids])
    vectors = np.eye(2, dtype=np.float32)[group] * 0.5
    return data.with_artifacts(item_embeddings=EmbeddingInit(vectors)), group


def test_a_strong_prior_keeps_the_text_and_ranks_a_cold_item():
    data, _ = _cold_item_data()
    cold = data.item_ids.get_loc("cold")
    params = dict(n_factors=2, regularization=0.1, iterations=15, random_state=0)
    prior = ALSRecommender(prior_weight=10.0, **params).fit(data)
    plain = ALSRecommender(**params).fit(data)
    np.testing.assert_allclose(  # (XᵀX + (λ + w) I)⁻¹ w v: its text, shrunk
        prior.item_factors_[cold], np.linalg.solve(
            prior.user_factors_.T.astype(np.float64) @ prior.user_factors_
            + 10.1 * np.eye(2), 10.0 * data.artifacts["item_embeddings"].vectors[cold]),
        rtol=1e-4)
    assert np.linalg.norm(prior.item_factors_[cold]) > 0.05
    assert np.abs(plain.item_factors_[cold]).max() < 1e-3  # only its start, then shrunk
    group1_user = data.user_ids.get_loc(1)
    assert prior.recommend([1], k=1)["item_id"].tolist() == ["cold"]
    assert prior._score_users([group1_user])[0, cold] > 0.1


def test_the_prior_weight_tends_to_the_vectors():
    data, _ = _cold_item_data()
    vectors = data.artifacts["item_embeddings"].vectors
    model = ALSRecommender(n_factors=2, iterations=3, prior_weight=1e7).fit(data)
    np.testing.assert_allclose(model.item_factors_, vectors, atol=1e-4)


def test_prior_needs_vectors_and_the_cpu():
    data, _ = _cold_item_data()
    with pytest.raises(ValueError, match="no 'item_embeddings' artifact.*LLMEmbeddingInit"):
        ALSRecommender(n_factors=2, prior_weight=1.0).fit(
            data.without_artifacts("item_embeddings"))
    with pytest.raises(ValueError, match="fits on the CPU"):
        ALSRecommender(n_factors=2, prior_weight=1.0, use_gpu=True).fit(data)


def test_als_confidence_never_reads_ratings_so_augmented_rows_get_no_star():
    """ALS's confidence is alpha x row weight: an augmented row's missing rating (NaN)
    is never turned into a rating, and changing the real ratings changes nothing."""
    frame = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": list("abacb"),
                          "r": [5.0, 1.0, 4.0, 2.0, 3.0]})
    data = InteractionData.from_pandas(frame, rating_col="r")
    augmented = data.with_added_rows([2], [2], weight=0.5)
    assert np.isnan(augmented.ratings[-1])
    rerated = augmented._with_columns(ratings=np.full(len(augmented), 5.0, np.float32))
    params = dict(n_factors=2, iterations=3, random_state=0, num_threads=1)
    for prior_weight in (0.0, 1.0):
        vectors = EmbeddingInit(np.eye(3, 2, dtype=np.float32))
        first = ALSRecommender(prior_weight=prior_weight, **params).fit(
            augmented.with_artifacts(item_embeddings=vectors))
        second = ALSRecommender(prior_weight=prior_weight, **params).fit(
            rerated.with_artifacts(item_embeddings=vectors))
        np.testing.assert_array_equal(first.item_factors_, second.item_factors_)
        assert np.isfinite(first.item_factors_).all()
