"""Users' time-ordered histories cut into fixed-length, left-padded windows (SASRec)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._rows import TrainingRows

__all__ = ["Windows", "latest_histories", "training_windows"]


@dataclass(frozen=True)
class Windows:
    """Training windows: ``items[:, :-1]`` is the input, ``items[:, 1:]`` the targets.

    Attributes
    ----------
    users : ndarray (W,) of int64
    items : ndarray (W, max_len + 1) of int64
        Item codes, left-padded with ``pad``.
    weights : ndarray (W, max_len + 1) of float32
        Row weight of each item (0 at the padding).
    pad : int
        The padding code, ``n_items``.
    """

    users: np.ndarray
    items: np.ndarray
    weights: np.ndarray
    pad: int

    def __len__(self) -> int:
        return len(self.users)

    def has_target(self) -> np.ndarray:
        """(W, max_len) bool: the position's target is a real next item.

        A target counts when its input is a real item: the user's first item is never
        a target (it has no history to predict it from).
        """
        return self.items[:, :-1] != self.pad


def training_windows(rows: TrainingRows, max_len: int) -> Windows:
    """Every user's history cut, from its end, into windows of ``max_len`` targets.

    Window ``k`` of a user of ``n`` rows holds the rows ``n - (k+1) max_len - 1`` to
    ``n - k max_len - 1`` (the first one as input only), so each row but the user's
    first is a target exactly once per epoch and the latest window ends at the
    latest row, as the serving history does.
    """
    starts = rows.user_starts()
    counts = np.diff(starts)
    per_user = np.where(counts >= 2, -(-(counts - 1) // max_len), 0)
    users = np.repeat(np.arange(rows.n_users), per_user)
    k = np.arange(len(users)) - np.repeat(np.cumsum(per_user) - per_user, per_user)
    ends = starts[users + 1] - k * max_len
    positions = ends[:, None] - (max_len + 1) + np.arange(max_len + 1)
    real = positions >= starts[users][:, None]
    positions = np.where(real, positions, 0)
    return Windows(
        users=users.astype(np.int64),
        items=np.where(real, rows.items[positions], rows.n_items),
        weights=np.where(real, rows.weights[positions], 0).astype(np.float32),
        pad=rows.n_items,
    )


def latest_histories(rows: TrainingRows, max_len: int) -> np.ndarray:
    """Each user's latest ``max_len`` items, left-padded with ``n_items``.

    Returns
    -------
    ndarray of shape (n_users, max_len), int64; all padding for a user with no rows.
    """
    starts = rows.user_starts()
    positions = starts[1:, None] - max_len + np.arange(max_len)
    real = positions >= starts[:-1, None]
    return np.where(real, rows.items[np.where(real, positions, 0)], rows.n_items)
