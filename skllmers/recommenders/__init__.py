"""Recommender estimators: fit on InteractionData, rank the whole catalogue per user."""

from ._als import ALSRecommender
from ._base import BaseRecommender, FactorModelMixin
from ._bpr import BPRRecommender
from ._cold_start import ColdStartBridge
from ._ease import EASERecommender, semantic_item_matrix
from ._fusion import TextFusionRecommender, tune_fusion_alpha
from ._lightfm import LightFMRecommender
from ._lightgcn import LightGCNRecommender
from ._popularity import PopularityRecommender
from ._sasrec import SASRecRecommender

__all__ = [
    "ALSRecommender",
    "BaseRecommender",
    "BPRRecommender",
    "ColdStartBridge",
    "EASERecommender",
    "FactorModelMixin",
    "LightFMRecommender",
    "LightGCNRecommender",
    "PopularityRecommender",
    "SASRecRecommender",
    "TextFusionRecommender",
    "semantic_item_matrix",
    "tune_fusion_alpha",
]
