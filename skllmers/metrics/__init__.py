"""Ranking metrics, scorers for GridSearchCV, and evaluation of fitted recommenders."""

from ._evaluate import (
    PairedTestResult,
    evaluate,
    make_rank_scorer,
    paired_test,
    per_user_scores,
)
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
    "PairedTestResult",
    "catalog_coverage",
    "evaluate",
    "hit_rate_at_k",
    "make_rank_scorer",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "paired_test",
    "per_user_scores",
    "recall_at_k",
]
