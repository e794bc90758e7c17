"""What enhancers hand to recommenders through :class:`~skllmers.InteractionData`.

Artifacts are indexed by code (rows of the id maps), never by interaction row, so every
row view of the data shares them. Enhancers attach them with
``data.with_artifacts(name=value)``; recommenders read ``data.artifacts[name]``.

========================  =======================================  ======================
key                       value                                    written by
========================  =======================================  ======================
``"item_features"``       float32 array (n_items, d)               LLMSummaryFeaturizer
``"user_features"``       float32 array (n_users, d)               LLMSummaryFeaturizer
``"item_embeddings"``     :class:`EmbeddingInit`                   LLMEmbeddingInitializer
``"user_embeddings"``     :class:`EmbeddingInit`                   LLMEmbeddingInitializer
``"guidance"``            :class:`GuidanceTargets`                 GuidanceRegularizer
``"negatives"``           int array (m, 3): user, positive,        LLMInteractionAugmenter
                          negative codes
========================  =======================================  ======================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EmbeddingInit", "GuidanceTargets", "ARTIFACT_KEYS"]

ARTIFACT_KEYS = ("item_features", "user_features", "item_embeddings", "user_embeddings",
                 "guidance", "negatives")
EMBEDDING_MODES = ("init", "frozen")
GUIDANCE_KINDS = ("contrastive", "generative", "distillation")


@dataclass(frozen=True, eq=False)
class EmbeddingInit:
    """Vectors from an LLM or text encoder for a recommender's item (or user) embeddings.

    The same object serves the ``"item_embeddings"`` and ``"user_embeddings"``
    artifacts.

    Parameters
    ----------
    vectors : ndarray of shape (n_items, d) or (n_users, d)
        One vector per item (user) code. A model whose width differs projects them
        (``frozen``) or raises (``init``: reduce to the model's width first).
    mode : {"init", "frozen"}, default="init"
        ``"init"``: the embedding table starts from ``vectors`` and trains
        (Harte et al. 2023). ``"frozen"``: ``vectors`` stay fixed behind a trainable
        adapter (LLM-ESR, AlphaRec).
    add_id_embedding : bool, default=True
        In ``"frozen"`` mode, also learn a free ID embedding that is summed with the
        adapted vectors (LLM-ESR's dual view).

    Examples
    --------
    >>> import numpy as np
    >>> from skllmers import EmbeddingInit
    >>> EmbeddingInit(np.zeros((3, 8)), mode="frozen").vectors.dtype
    dtype('float32')
    """

    vectors: np.ndarray
    mode: str = "init"
    add_id_embedding: bool = True

    def __post_init__(self):
        vectors = _as_matrix(self.vectors, "vectors")
        object.__setattr__(self, "vectors", vectors)
        if self.mode not in EMBEDDING_MODES:
            raise ValueError(f"mode={self.mode!r}; use one of {EMBEDDING_MODES}.")


@dataclass(frozen=True, eq=False)
class GuidanceTargets:
    """LLM-side representations that an alignment loss pulls a model's embeddings toward.

    Parameters
    ----------
    item_targets : ndarray of shape (n_items, d), optional
    user_targets : ndarray of shape (n_users, d), optional
        At least one is required. Rows of all zeros mean "no target" for that code.
    weight : float, default=1e-2
        Weight of the alignment loss added to the recommendation loss (0 = unguided).
    temperature : float, default=0.2
        InfoNCE temperature (``kind="contrastive"``).
    kind : {"contrastive", "generative", "distillation"}, default="contrastive"
        RLMRec-Con (InfoNCE between model embeddings and an MLP projection of the
        targets), RLMRec-Gen (reconstruct the target from masked embeddings), or
        retrieval self-distillation in the spirit of LLM-ESR (pull each user's or
        item's embedding toward the mean embedding of the ``n_neighbors`` users or
        items nearest to it in target space).
    mask_ratio : float, default=0.1
        Share of embeddings masked per batch for ``kind="generative"``.
    n_neighbors : int, default=10
        Neighbours in target space (cosine) per user or item, for
        ``kind="distillation"``.

    Examples
    --------
    >>> import numpy as np
    >>> from skllmers import GuidanceTargets
    >>> GuidanceTargets(item_targets=np.ones((4, 16)), weight=0.05).kind
    'contrastive'
    """

    item_targets: np.ndarray | None = None
    user_targets: np.ndarray | None = None
    weight: float = 1e-2
    temperature: float = 0.2
    kind: str = "contrastive"
    mask_ratio: float = 0.1
    n_neighbors: int = 10

    def __post_init__(self):
        if self.item_targets is None and self.user_targets is None:
            raise ValueError("GuidanceTargets needs item_targets, user_targets or both.")
        for name in ("item_targets", "user_targets"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _as_matrix(value, name))
        if self.kind not in GUIDANCE_KINDS:
            raise ValueError(f"kind={self.kind!r}; use one of {GUIDANCE_KINDS}.")
        if not self.weight >= 0:
            raise ValueError(f"weight must be >= 0, got {self.weight!r}.")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}.")
        if not 0 < self.mask_ratio <= 1:
            raise ValueError(f"mask_ratio must be in (0, 1], got {self.mask_ratio!r}.")
        if isinstance(self.n_neighbors, bool) or not (
                isinstance(self.n_neighbors, (int, np.integer)) and self.n_neighbors >= 1):
            raise ValueError(f"n_neighbors must be an int >= 1, got {self.n_neighbors!r}.")


def _as_matrix(values, name: str) -> np.ndarray:
    matrix = np.asarray(values, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be 2-D (one row per code), got shape {matrix.shape}.")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return matrix
