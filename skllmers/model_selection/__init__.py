"""Splitters that hold out interactions per user, in time or per item, usable as ``cv=``."""

from ._split import (
    ColdItemSplit,
    DroppedTestRowsWarning,
    LeaveLastOut,
    TemporalSplit,
    UserRandomSplit,
    train_test_split_interactions,
)

__all__ = [
    "ColdItemSplit",
    "DroppedTestRowsWarning",
    "LeaveLastOut",
    "TemporalSplit",
    "UserRandomSplit",
    "train_test_split_interactions",
]
