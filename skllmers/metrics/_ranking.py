"""Top-k ranking metrics over per-user lists of recommended and relevant items."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = [
    "ndcg_at_k",
    "recall_at_k",
    "hit_rate_at_k",
    "map_at_k",
    "mrr_at_k",
    "catalog_coverage",
    "RANKING_METRICS",
]


def _hits(relevant, recommended, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean matrix (n_users, k): is the i-th recommendation relevant? And |relevant|."""
    recommended = np.asarray(recommended)
    if recommended.ndim != 2:
        raise ValueError(
            f"recommended must be 2-D (n_users, n_recommended), got shape {recommended.shape}."
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    if recommended.shape[1] < k:
        raise ValueError(
            f"recommended has {recommended.shape[1]} columns, fewer than k={k}; "
            "pad missing recommendations with -1."
        )
    top = recommended[:, :k].astype(np.int64)
    relevant = _relevant_matrix(relevant, len(top), top.max(initial=-1) + 1)
    n_relevant = np.diff(relevant.indptr)
    if len(top) == 0:  # no user: sparse fancy indexing would not give an empty result
        return np.zeros((0, k), bool), n_relevant
    padded = top < 0
    lookup = np.where(padded | (top >= relevant.shape[1]), 0, top)
    rows = np.repeat(np.arange(len(top)), k)
    hits = np.asarray(relevant[rows, lookup.ravel()]).reshape(top.shape) > 0
    hits &= ~padded & (top < relevant.shape[1]) & _first_occurrences(top)
    return hits, n_relevant


def _first_occurrences(top: np.ndarray) -> np.ndarray:
    """``True`` where an item appears in its row for the first time.

    A repeated recommendation is a wasted slot, not a second hit: without this, an
    item listed twice would count twice and push NDCG, recall and MAP above 1.
    """
    order = np.argsort(top, axis=1, kind="stable")
    ranked = np.take_along_axis(top, order, axis=1)
    repeat_in_order = np.zeros(top.shape, bool)
    repeat_in_order[:, 1:] = ranked[:, 1:] == ranked[:, :-1]
    first = np.ones(top.shape, bool)
    np.put_along_axis(first, order, ~repeat_in_order, axis=1)
    return first


def _relevant_matrix(relevant, n_users: int, min_items: int) -> sp.csr_matrix:
    if sp.issparse(relevant):
        matrix = sp.csr_matrix(relevant)
        matrix.data = (matrix.data != 0).astype(np.float32)
        matrix.eliminate_zeros()
    else:
        rows = [np.unique(np.asarray(r, dtype=np.int64)) for r in relevant]
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        cols = np.concatenate(rows) if rows else np.empty(0, np.int64)
        if len(cols) and cols.min() < 0:
            raise ValueError("relevant item codes must be non-negative.")
        n_items = max(int(cols.max(initial=-1)) + 1, int(min_items))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        matrix = sp.csr_matrix((np.ones(len(cols), np.float32), cols, indptr),
                               shape=(len(rows), n_items))
    if matrix.shape[0] != n_users:
        raise ValueError(
            f"relevant describes {matrix.shape[0]} users but recommended has {n_users} rows."
        )
    return matrix


def _finish(per_user: np.ndarray, n_relevant: np.ndarray, average: bool):
    """Drop users with nothing relevant (their metric is undefined); average if asked."""
    per_user = per_user[n_relevant > 0]
    if not average:
        return per_user
    return float(per_user.mean()) if len(per_user) else float("nan")


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ndcg_at_k(relevant, recommended, k: int = 10, *, average: bool = True):
    """Normalised discounted cumulative gain of the top ``k`` (binary relevance).

    ``DCG = sum_i rel_i / log2(i + 2)`` over the first ``k`` positions, divided by the
    DCG of a perfect list of ``min(k, |relevant|)`` hits.

    Parameters
    ----------
    relevant : list of array-like of int, or sparse matrix
        Relevant item codes of each user (or a users x items matrix, non-zero =
        relevant), aligned with the rows of ``recommended``.
    recommended : array-like of shape (n_users, n) with n >= k
        Recommended item codes, best first; -1 marks an empty slot. An item repeated
        in a row counts only at its first position.
    k : int, default=10
    average : bool, default=True
        Return the mean over users (else one value per user). Users with no
        relevant item are left out either way.

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> from skllmers.metrics import ndcg_at_k
    >>> round(ndcg_at_k([[3]], [[5, 3, 1]], k=3), 4)  # hit at rank 2: 1 / log2(3)
    0.6309
    """
    hits, n_relevant = _hits(relevant, recommended, k)
    discounts = _discounts(k)
    dcg = hits @ discounts
    ideal_cum = np.concatenate([[0.0], np.cumsum(discounts)])
    idcg = ideal_cum[np.minimum(n_relevant, k)]
    per_user = np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)
    return _finish(per_user, n_relevant, average)


def recall_at_k(relevant, recommended, k: int = 10, *, average: bool = True):
    """Share of each user's relevant items found in the top ``k``.

    The denominator is ``|relevant|`` (not ``min(k, |relevant|)``).

    Parameters
    ----------
    relevant, recommended, k, average
        As in :func:`ndcg_at_k`.

    Examples
    --------
    >>> from skllmers.metrics import recall_at_k
    >>> recall_at_k([[1, 2, 3, 4]], [[1, 9, 2]], k=3)
    0.5
    """
    hits, n_relevant = _hits(relevant, recommended, k)
    per_user = np.divide(hits.sum(axis=1), n_relevant, out=np.zeros(len(hits)),
                         where=n_relevant > 0)
    return _finish(per_user, n_relevant, average)


def hit_rate_at_k(relevant, recommended, k: int = 10, *, average: bool = True):
    """1 for a user with at least one relevant item in the top ``k``, else 0.

    Parameters
    ----------
    relevant, recommended, k, average
        As in :func:`ndcg_at_k`.

    Examples
    --------
    >>> from skllmers.metrics import hit_rate_at_k
    >>> hit_rate_at_k([[1], [2]], [[1, 5], [5, 6]], k=2)
    0.5
    """
    hits, n_relevant = _hits(relevant, recommended, k)
    return _finish(hits.any(axis=1).astype(np.float64), n_relevant, average)


def map_at_k(relevant, recommended, k: int = 10, *, average: bool = True):
    """Mean average precision of the top ``k``.

    ``AP@k = sum_i P@i * rel_i / min(k, |relevant|)``.

    Parameters
    ----------
    relevant, recommended, k, average
        As in :func:`ndcg_at_k`.

    Examples
    --------
    >>> from skllmers.metrics import map_at_k
    >>> map_at_k([[1, 2]], [[1, 9, 2]], k=3)  # (1/1 + 2/3) / 2
    0.8333333333333333
    """
    hits, n_relevant = _hits(relevant, recommended, k)
    precision = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    denominator = np.minimum(n_relevant, k)
    per_user = np.divide((precision * hits).sum(axis=1), denominator,
                         out=np.zeros(len(hits)), where=denominator > 0)
    return _finish(per_user, n_relevant, average)


def mrr_at_k(relevant, recommended, k: int = 10, *, average: bool = True):
    """Reciprocal rank of the first relevant item in the top ``k`` (0 when none).

    Parameters
    ----------
    relevant, recommended, k, average
        As in :func:`ndcg_at_k`.

    Examples
    --------
    >>> from skllmers.metrics import mrr_at_k
    >>> mrr_at_k([[2]], [[1, 9, 2]], k=3)
    0.3333333333333333
    """
    hits, n_relevant = _hits(relevant, recommended, k)
    first = np.argmax(hits, axis=1)
    per_user = np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0)
    return _finish(per_user, n_relevant, average)


def catalog_coverage(recommended, n_items: int, k: int | None = None) -> float:
    """Share of the catalogue that appears in at least one top-``k`` list.

    Parameters
    ----------
    recommended : array-like of shape (n_users, n)
        Recommended item codes; -1 marks an empty slot.
    n_items : int
        Size of the catalogue.
    k : int, optional
        Only the first ``k`` columns count (all by default).

    Examples
    --------
    >>> from skllmers.metrics import catalog_coverage
    >>> catalog_coverage([[0, 1], [1, 2]], n_items=10)
    0.3
    """
    recommended = np.asarray(recommended)
    if recommended.ndim != 2:
        raise ValueError(
            f"recommended must be 2-D (n_users, n_recommended), got shape {recommended.shape}."
        )
    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 1:
        raise ValueError(f"n_items must be a positive integer, got {n_items!r}.")
    top = recommended if k is None else recommended[:, :k]
    items = np.unique(top[top >= 0])
    return len(items) / n_items


RANKING_METRICS = {
    "ndcg": ndcg_at_k,
    "recall": recall_at_k,
    "hit_rate": hit_rate_at_k,
    "map": map_at_k,
    "mrr": mrr_at_k,
}
