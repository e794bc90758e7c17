"""Data sets: MovieLens (bundled and downloaded) and synthetic data with text signal."""

from ._base import clear_data_home, get_data_home
from ._movielens import load_movielens
from ._text_signal import make_text_signal

__all__ = ["clear_data_home", "get_data_home", "load_movielens", "make_text_signal"]
