"""Splitters that hold out interactions per user or in time, usable as ``cv=``."""

from ._split import (
    DroppedTestRowsWarning,
    LeaveLastOut,
    TemporalSplit,
    UserRandomSplit,
    train_test_split_interactions,
)

__all__ = [
    "DroppedTestRowsWarning",
    "LeaveLastOut",
    "TemporalSplit",
    "UserRandomSplit",
    "train_test_split_interactions",
]
