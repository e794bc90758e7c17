"""Recommender estimators: fit on InteractionData, rank the whole catalogue per user."""

from ._als import ALSRecommender
from ._base import BaseRecommender, FactorModelMixin
from ._ease import EASERecommender
from ._lightfm import LightFMRecommender
from ._popularity import PopularityRecommender

__all__ = [
    "ALSRecommender",
    "BaseRecommender",
    "EASERecommender",
    "FactorModelMixin",
    "LightFMRecommender",
    "PopularityRecommender",
]
