"""Recommender estimators: fit on InteractionData, rank the whole catalogue per user."""

from ._base import BaseRecommender, FactorModelMixin

__all__ = ["BaseRecommender", "FactorModelMixin"]
