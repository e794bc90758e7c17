"""Test doubles for the evaluation tests: a recommender with given scores, a counting step."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from skllmers.recommenders import BaseRecommender


class FixedScores(BaseRecommender):
    """Scores every (user code, item code) from a given matrix, so rankings are known."""

    def __init__(self, scores=None):
        self.scores = scores

    def _fit(self, X):
        scores = np.asarray(self.scores, dtype=np.float32)
        if scores.shape != (X.n_users, X.n_items):
            raise ValueError(f"scores must be {(X.n_users, X.n_items)}, got {scores.shape}")
        self.scores_ = scores

    def _score_users(self, user_codes):
        return self.scores_[user_codes]


class CountingStep(BaseEstimator, TransformerMixin):
    """A Pipeline step that passes X through and counts transform calls and rows."""

    def fit(self, X, y=None):
        self.calls_ = []
        return self

    def transform(self, X):
        self.calls_.append(len(X))
        return X
