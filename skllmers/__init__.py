"""skllmers: LLM-enhanced recommender systems for scikit-learn.

The LLM helps only while a recommender is trained; serving never calls it. The four
transformers follow the taxonomy of Liu et al. (2024):

- knowledge enhancement: :class:`LLMSummaryFeaturizer`
- interaction enhancement: :class:`LLMInteractionAugmenter`
- model enhancement: :class:`LLMEmbeddingInitializer`, :class:`GuidanceRegularizer`

They pass :class:`InteractionData` along a Pipeline to the estimators of
:mod:`skllmers.recommenders`.
"""

from ._artifacts import EmbeddingInit, GuidanceTargets
from ._interaction_data import InteractionData
from .interaction import LLMInteractionAugmenter
from .knowledge import LLMSummaryFeaturizer
from .model_enhancement import GuidanceRegularizer, LLMEmbeddingInitializer
from .pipeline import Pipeline, make_pipeline

__version__ = "0.1.0.dev0"

__all__ = [
    "EmbeddingInit",
    "GuidanceRegularizer",
    "GuidanceTargets",
    "InteractionData",
    "LLMEmbeddingInitializer",
    "LLMInteractionAugmenter",
    "LLMSummaryFeaturizer",
    "Pipeline",
    "__version__",
    "make_pipeline",
]
