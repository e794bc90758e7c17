"""LLM as model enhancer: LLM knowledge shapes a recommender's parameters during ``fit``.

Transformers placed before a recommender in a Pipeline. They embed text with an encoder
or LLM (or look vectors up in :class:`~skllmers.llm.PrecomputedVectors`) at ``fit`` and
attach the result to the data as an artifact that the recommender reads while it
trains; serving never calls the encoder or the LLM.

- :class:`LLMEmbeddingInitializer` (``"item_embeddings"``, ``"user_embeddings"``): item
  (and user) embeddings start from, or stay behind an adapter on, LLM text vectors
  (Harte et al. 2023, LLM-ESR, AlphaRec).
- :class:`GuidanceRegularizer` (``"guidance"``): an alignment loss pulls the model's
  user/item embeddings toward LLM profiles (RLMRec), or toward their neighbours in LLM
  space (LLM-ESR's retrieval self-distillation).
"""

from ._guidance import GuidanceRegularizer
from ._initializer import LLMEmbeddingInitializer

__all__ = ["GuidanceRegularizer", "LLMEmbeddingInitializer"]
