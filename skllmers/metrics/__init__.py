"""Ranking metrics, scorers for GridSearchCV, and evaluation of fitted recommenders."""

from ._ranking import (
    RANKING_METRICS,
    catalog_coverage,
    hit_rate_at_k,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
)

__all__ = [
    "RANKING_METRICS",
    "catalog_coverage",
    "hit_rate_at_k",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "recall_at_k",
]
