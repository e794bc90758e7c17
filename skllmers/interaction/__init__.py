"""Interaction enhancement: training interactions added or denoised by an LLM.

:class:`LLMInteractionAugmenter` runs one strategy (:class:`LLMSelect`,
:class:`EmbeddingNeighbors` or :class:`Denoise`) while fitting only; held-out and
served data pass through unchanged.
"""

from ._augmenter import LLMInteractionAugmenter
from ._prompts import DEFAULT_DENOISE_TEMPLATE, DEFAULT_JUDGE_TEMPLATE, DEFAULT_SELECT_TEMPLATE
from ._strategies import Denoise, EmbeddingNeighbors, LLMSelect

__all__ = [
    "DEFAULT_DENOISE_TEMPLATE",
    "DEFAULT_JUDGE_TEMPLATE",
    "DEFAULT_SELECT_TEMPLATE",
    "Denoise",
    "EmbeddingNeighbors",
    "LLMInteractionAugmenter",
    "LLMSelect",
]
