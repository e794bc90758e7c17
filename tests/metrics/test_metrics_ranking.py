"""Ranking metrics: hand-computed cases, then an independent loop and sklearn on random data."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import ndcg_score

from skllmers.metrics import (
    RANKING_METRICS,
    catalog_coverage,
    hit_rate_at_k,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
)

ALL = [ndcg_at_k, recall_at_k, hit_rate_at_k, map_at_k, mrr_at_k]


def d(position):
    """Discount of a 1-based rank: 1 / log2(rank + 1)."""
    return 1 / math.log2(position + 1)


# ---------------------------------------------------------------------- by hand
def test_single_hit_at_rank_two():
    relevant, recommended = [[3]], [[5, 3, 1]]
    assert ndcg_at_k(relevant, recommended, k=3) == pytest.approx(d(2))
    assert recall_at_k(relevant, recommended, k=3) == 1.0
    assert hit_rate_at_k(relevant, recommended, k=3) == 1.0
    assert map_at_k(relevant, recommended, k=3) == pytest.approx(1 / 2)
    assert mrr_at_k(relevant, recommended, k=3) == pytest.approx(1 / 2)
    # k=1 cuts the hit off
    for metric in ALL:
        assert metric(relevant, recommended, k=1) == 0.0


def test_more_relevant_than_k():
    # 4 relevant, top-3 = [0, 9, 1]: hits at ranks 1 and 3.
    relevant, recommended = [[0, 1, 2, 3]], [[0, 9, 1, 2]]
    ideal = d(1) + d(2) + d(3)  # min(k, |relevant|) = 3 hits
    assert ndcg_at_k(relevant, recommended, k=3) == pytest.approx((d(1) + d(3)) / ideal)
    assert recall_at_k(relevant, recommended, k=3) == pytest.approx(2 / 4)
    assert map_at_k(relevant, recommended, k=3) == pytest.approx((1 / 1 + 2 / 3) / 3)
    assert mrr_at_k(relevant, recommended, k=3) == 1.0
    assert hit_rate_at_k(relevant, recommended, k=3) == 1.0


def test_fewer_relevant_than_k():
    # 2 relevant, hits at ranks 1 and 3 of 4.
    relevant, recommended = [[1, 2]], [[1, 9, 2, 7]]
    assert ndcg_at_k(relevant, recommended, k=4) == pytest.approx(
        (d(1) + d(3)) / (d(1) + d(2)))
    assert recall_at_k(relevant, recommended, k=4) == 1.0
    assert map_at_k(relevant, recommended, k=4) == pytest.approx((1 + 2 / 3) / 2)


def test_padding_with_minus_one_is_never_a_hit():
    assert ndcg_at_k([[0]], [[-1, -1, -1]], k=3) == 0.0
    assert hit_rate_at_k([[0]], [[-1, -1, -1]], k=3) == 0.0
    # the one real recommendation is the relevant item
    for metric in ALL:
        assert metric([[2]], [[2, -1, -1]], k=3) == pytest.approx(1.0)
    # a hit after padding slots still counts at its position
    assert mrr_at_k([[4]], [[-1, 4, -1]], k=3) == pytest.approx(1 / 2)


def test_users_without_relevant_items_are_left_out():
    relevant = [[1], [], [2]]
    recommended = [[1, 0], [1, 0], [0, 2]]
    per_user = ndcg_at_k(relevant, recommended, k=2, average=False)
    np.testing.assert_allclose(per_user, [1.0, d(2)])
    assert ndcg_at_k(relevant, recommended, k=2) == pytest.approx((1 + d(2)) / 2)
    for metric in ALL:
        assert len(metric(relevant, recommended, k=2, average=False)) == 2
        assert math.isnan(metric([[]], [[1, 2]], k=2))


def test_no_users_gives_nan_not_an_error():
    for metric in ALL:
        assert math.isnan(metric([], np.empty((0, 5), np.int64), k=5))
        assert metric([], np.empty((0, 5), np.int64), k=5, average=False).shape == (0,)


def test_k_larger_than_list_asks_for_padding():
    with pytest.raises(ValueError, match="pad missing recommendations with -1"):
        ndcg_at_k([[1]], [[1, 2]], k=3)


@pytest.mark.parametrize("k", [0, -1, 2.0, True, None])
def test_bad_k(k):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        recall_at_k([[1]], [[1, 2]], k=k)


def test_bad_shapes():
    with pytest.raises(ValueError, match="must be 2-D"):
        ndcg_at_k([[1]], [1, 2], k=1)
    with pytest.raises(ValueError, match="describes 2 users but recommended has 1"):
        ndcg_at_k([[1], [2]], [[1, 2]], k=1)
    with pytest.raises(ValueError, match="non-negative"):
        ndcg_at_k([[-3]], [[1, 2]], k=1)


def test_repeated_recommendation_counts_once():
    # Listing the relevant item twice must not give NDCG/recall/MAP above 1.
    for metric in ALL:
        assert metric([[3]], [[3, 3]], k=2) == pytest.approx(1.0)
    assert recall_at_k([[3, 4]], [[3, 3]], k=2) == pytest.approx(0.5)
    assert mrr_at_k([[3]], [[1, 3, 3]], k=3) == pytest.approx(0.5)
    assert ndcg_at_k([[3, 4]], [[3, 3, 4]], k=3) == pytest.approx(
        (d(1) + d(3)) / (d(1) + d(2)))


def test_relevant_items_beyond_recommended_codes_and_duplicates_in_relevant():
    # relevant codes larger than any recommended code, and a repeated relevant code
    assert recall_at_k([[50, 50, 1]], [[1, 2]], k=2) == pytest.approx(1 / 2)


def test_sparse_relevant_matches_lists():
    relevant = [[0, 3], [1], []]
    matrix = sp.csr_matrix(([1, 1, 2], ([0, 0, 1], [0, 3, 1])), shape=(3, 4))
    recommended = [[3, 1, 0], [2, 1, 7], [0, 1, 2]]  # 7 lies outside the matrix
    for metric in ALL:
        np.testing.assert_allclose(
            metric(matrix, recommended, k=3, average=False),
            metric(relevant, recommended, k=3, average=False),
        )


def test_catalog_coverage_by_hand():
    recommended = [[0, 1, -1], [1, 2, 5]]
    assert catalog_coverage(recommended, n_items=10) == pytest.approx(4 / 10)
    assert catalog_coverage(recommended, n_items=10, k=1) == pytest.approx(2 / 10)
    with pytest.raises(ValueError, match="n_items must be a positive integer"):
        catalog_coverage(recommended, n_items=0)
    with pytest.raises(ValueError, match="2-D"):
        catalog_coverage([1, 2], n_items=3)


def test_registry_names():
    assert RANKING_METRICS == {"ndcg": ndcg_at_k, "recall": recall_at_k,
                               "hit_rate": hit_rate_at_k, "map": map_at_k, "mrr": mrr_at_k}


# ---------------------------------------------------------------------- independent
def loop_metrics(relevant, ranked, k):
    """Straightforward per-user definitions, written independently of the library."""
    relevant = set(relevant)
    hits = [1 if (item >= 0 and item in relevant) else 0 for item in ranked[:k]]
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    dcg = sum(h / math.log2(i + 2) for i, h in enumerate(hits))
    precisions = [sum(hits[:i + 1]) / (i + 1) for i, h in enumerate(hits) if h]
    first = next((i for i, h in enumerate(hits) if h), None)
    return {
        "ndcg": dcg / ideal,
        "recall": sum(hits) / len(relevant),
        "hit_rate": float(any(hits)),
        "map": sum(precisions) / min(k, len(relevant)),
        "mrr": 0.0 if first is None else 1 / (first + 1),
    }


def random_case(seed, n_users=60, n_items=25, n_cols=12):
    rng = np.random.default_rng(seed)
    relevant = [rng.choice(n_items, size=rng.integers(0, 7), replace=False)
                for _ in range(n_users)]
    recommended = np.stack([rng.permutation(n_items)[:n_cols] for _ in range(n_users)])
    pad = rng.integers(0, n_cols + 1, size=n_users)  # pad each row's tail with -1
    recommended[np.arange(n_cols) >= pad[:, None]] = -1
    return relevant, recommended


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("k", [1, 3, 10, 12])
def test_against_python_loop(seed, k):
    relevant, recommended = random_case(seed)
    kept = [u for u in range(len(relevant)) if len(relevant[u])]
    assert 0 < len(kept) < len(relevant)  # the case has users with nothing relevant
    for name, metric in RANKING_METRICS.items():
        expected = [loop_metrics(relevant[u], list(recommended[u]), k)[name] for u in kept]
        got = metric(relevant, recommended, k=k, average=False)
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=name)
        assert metric(relevant, recommended, k=k) == pytest.approx(np.mean(expected))


@pytest.mark.parametrize("k", [1, 5, 10])
def test_ndcg_against_sklearn(k):
    rng = np.random.default_rng(7)
    n_users, n_items = 40, 30
    relevant, recommended = random_case(3, n_users, n_items, n_cols=n_items)
    recommended = np.stack([rng.permutation(n_items) for _ in range(n_users)])  # no padding
    y_true = np.zeros((n_users, n_items))
    for u, items in enumerate(relevant):
        y_true[u, items] = 1
    y_score = np.empty((n_users, n_items))  # distinct scores: no ties anywhere
    np.put_along_axis(y_score, recommended, np.arange(n_items, 0, -1)[None, :], axis=1)
    has_relevant = y_true.sum(axis=1) > 0
    expected = ndcg_score(y_true[has_relevant], y_score[has_relevant], k=k)
    assert ndcg_at_k(relevant, recommended, k=k) == pytest.approx(expected, rel=1e-12)
