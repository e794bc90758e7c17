"""Uniform negative sampling that avoids each user's known items, vectorised in numpy."""

from __future__ import annotations

import numpy as np

__all__ = ["KnownPairs", "sample_negatives"]

_BITMAP_MAX_CELLS = 1 << 26  # users x items up to which a bool matrix (<= 64 MB) is used
_MAX_REDRAWS = 10


class KnownPairs:
    """Membership test for (user, item) pairs, for whole arrays at once.

    A flat boolean users x items matrix when it is small (one fancy-indexing look-up
    per pair), else the sorted pair keys and a binary search.

    Parameters
    ----------
    users, items : ndarray of int
        The known pairs (repeats are fine).
    n_users, n_items : int
    """

    def __init__(self, users, items, n_users: int, n_items: int):
        self.n_items = int(n_items)
        keys = self._keys(users, items)
        if n_users * n_items <= _BITMAP_MAX_CELLS:
            self._bitmap = np.zeros(n_users * n_items, dtype=bool)
            self._bitmap[keys] = True
            self._sorted = None
        else:
            self._bitmap = None
            self._sorted = np.sort(keys)  # repeats do no harm to the binary search

    def _keys(self, users, items) -> np.ndarray:
        return np.asarray(users, dtype=np.int64) * self.n_items + np.asarray(items, np.int64)

    def contains(self, users, items) -> np.ndarray:
        """Boolean array (broadcast shape of ``users`` and ``items``): pair is known."""
        keys = self._keys(users, items)
        if self._bitmap is not None:
            return self._bitmap[keys]
        if len(self._sorted) == 0:
            return np.zeros(keys.shape, dtype=bool)
        # searching keys in sorted order walks the table once, cache-friendly: several
        # times faster than random probes for millions of keys
        flat = keys.reshape(-1)
        order = np.argsort(flat)
        at = np.minimum(np.searchsorted(self._sorted, flat[order]), len(self._sorted) - 1)
        found = np.empty(len(flat), dtype=bool)
        found[order] = self._sorted[at] == flat[order]
        return found.reshape(keys.shape)


def sample_negatives(rng: np.random.Generator, users: np.ndarray, n_items: int,
                     known: KnownPairs, n_negatives: int = 1) -> np.ndarray:
    """Items drawn uniformly for each user, redrawn where the user knows the item.

    Draws that hit a known item are redrawn, all at once, up to 10 times; a user who
    knows almost every item may keep a known one (as implicit's BPR does).

    Returns
    -------
    ndarray of shape (len(users), n_negatives), int64
    """
    negatives = rng.integers(n_items, size=(len(users), n_negatives), dtype=np.int64)
    flat = negatives.reshape(-1)
    todo = np.flatnonzero(known.contains(users[:, None], negatives))
    for _ in range(_MAX_REDRAWS):
        if len(todo) == 0:
            break
        flat[todo] = rng.integers(n_items, size=len(todo), dtype=np.int64)
        todo = todo[known.contains(users[todo // n_negatives], flat[todo])]
    return negatives
