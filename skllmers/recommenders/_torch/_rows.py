"""The rows a torch recommender trains on, and the validation rows held out of them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._interaction_data import InteractionData

__all__ = ["TrainingRows"]


@dataclass(frozen=True)
class TrainingRows:
    """Interaction rows in time order (user, time, seeded tie-break), as int64 codes.

    Rows of weight 0 are dropped when built from data: they cannot change the loss, and
    dropping them makes "augmented rows of weight 0" train exactly the model without
    them (same draws, same batches).

    Attributes
    ----------
    users, items : ndarray of int64
    weights : ndarray of float32
    augmented : ndarray of bool
    n_users, n_items : int
    """

    users: np.ndarray
    items: np.ndarray
    weights: np.ndarray
    augmented: np.ndarray
    n_users: int
    n_items: int

    @classmethod
    def from_data(cls, X: InteractionData, rng: np.random.Generator) -> TrainingRows:
        order = X.time_order(rng.integers(np.iinfo(np.int32).max))
        order = order[X.row_weights()[order] != 0]
        return cls(
            users=X.user_codes[order].astype(np.int64),
            items=X.item_codes[order].astype(np.int64),
            weights=X.row_weights()[order].astype(np.float32),
            augmented=X.augmented_mask()[order],
            n_users=X.n_users,
            n_items=X.n_items,
        )

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, mask: np.ndarray) -> TrainingRows:
        return TrainingRows(self.users[mask], self.items[mask], self.weights[mask],
                            self.augmented[mask], self.n_users, self.n_items)

    def user_starts(self) -> np.ndarray:
        """``indptr`` of the rows per user: user ``u`` owns ``[starts[u], starts[u + 1])``."""
        counts = np.bincount(self.users, minlength=self.n_users)
        return np.concatenate([[0], np.cumsum(counts)])

    def random_holdout(self, rng: np.random.Generator, fraction: float) -> np.ndarray:
        """Mask of a random ``fraction`` of the real (not augmented) rows."""
        real = np.flatnonzero(~self.augmented)
        n_valid = max(1, int(round(fraction * len(real))))
        mask = np.zeros(len(self), dtype=bool)
        mask[rng.choice(real, size=min(n_valid, len(real)), replace=False)] = True
        return mask

    def last_row_holdout(self, rng: np.random.Generator, fraction: float) -> np.ndarray:
        """Mask of the latest real row of a random ``fraction`` of the users.

        Only users with at least 3 real rows take part, so each keeps 2 to train on.
        """
        real = np.flatnonzero(~self.augmented)
        users = self.users[real]
        is_last = np.append(users[1:] != users[:-1], True)
        last = real[is_last]
        counts = np.bincount(users, minlength=self.n_users)
        eligible = last[counts[self.users[last]] >= 3]
        mask = np.zeros(len(self), dtype=bool)
        if len(eligible):
            n_valid = max(1, int(round(fraction * len(eligible))))
            mask[rng.choice(eligible, size=n_valid, replace=False)] = True
        return mask
