"""Data sets for recommender experiments.

- :func:`load_movielens`: MovieLens ratings with item text (titles, genres, tags).
  ``"latest-small"`` is bundled and loads offline; ``"100k"``, ``"1m"``, ``"20m"`` and
  ``"25m"`` are downloaded from GroupLens once and cached (see :func:`get_data_home`).
- :func:`make_text_signal`: synthetic interactions whose item descriptions carry
  preference signal that the interactions alone show poorly (with the hidden truth).
"""

from ._base import clear_data_home, get_data_home
from ._movielens import load_movielens
from ._text_signal import make_text_signal

__all__ = ["clear_data_home", "get_data_home", "load_movielens", "make_text_signal"]
