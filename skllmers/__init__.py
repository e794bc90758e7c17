"""skllmers: LLM-enhanced recommender systems for scikit-learn.

The LLM helps only while a recommender is trained; serving never calls it.
"""

from ._artifacts import EmbeddingInit, GuidanceTargets
from ._interaction_data import InteractionData

__version__ = "0.1.0.dev0"

__all__ = ["EmbeddingInit", "GuidanceTargets", "InteractionData", "__version__"]
