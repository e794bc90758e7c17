"""Interaction enhancement: training interactions added or denoised by an LLM.

The LLM is called while fitting only; held-out and served data pass through unchanged.
"""

from ._augmenter import LLMInteractionAugmenter
from ._prompts import DEFAULT_DENOISE_TEMPLATE, DEFAULT_NEGATIVE_TEMPLATE, DEFAULT_SELECT_TEMPLATE

__all__ = [
    "DEFAULT_DENOISE_TEMPLATE",
    "DEFAULT_NEGATIVE_TEMPLATE",
    "DEFAULT_SELECT_TEMPLATE",
    "LLMInteractionAugmenter",
]
