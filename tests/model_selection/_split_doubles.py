"""Test doubles and data for the splitter tests."""

import numpy as np
import pandas as pd

from skllmers import InteractionData
from skllmers.recommenders import BaseRecommender


class NoisyPopularity(BaseRecommender):
    """Training popularity plus ``noise`` times Gaussian noise.

    ``noise=0`` is a plain popularity ranking (ties broken by item code, so the
    ranking is fully determined); a large ``noise`` is a random ranking.
    """

    def __init__(self, noise=0.0, random_state=0):
        self.noise = noise
        self.random_state = random_state

    def _fit(self, X):
        rng = np.random.default_rng(self.random_state)
        tie_break = -np.arange(X.n_items) / (10.0 * X.n_items)
        base = self.item_popularity_ + tie_break
        self.scores_ = (base + self.noise * rng.standard_normal((X.n_users, X.n_items))
                        ).astype(np.float32)

    def _score_users(self, user_codes):
        return self.scores_[user_codes]


def make_interactions(n_users=40, n_items=60, max_rows=15, n_times=6, seed=0):
    """Users with 1..max_rows rows, Zipf-like item popularity, few distinct times (ties)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, max_rows + 1, size=n_users)
    popularity = 1 / np.arange(1, n_items + 1)
    frames = []
    for user, count in enumerate(counts):
        items = rng.choice(n_items, size=min(count, n_items), replace=False,
                           p=popularity / popularity.sum())
        frames.append(pd.DataFrame({"user_id": f"u{user}", "item_id": items,
                                    "t": rng.integers(0, n_times, size=len(items))}))
    rows = pd.concat(frames, ignore_index=True).sample(frac=1, random_state=seed)
    return InteractionData.from_pandas(rows, time_col="t")
