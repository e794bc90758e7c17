"""Which enhancer artifacts a torch recommender trains with, read and checked once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._artifacts import EmbeddingInit, GuidanceTargets
from ..._interaction_data import InteractionData

__all__ = ["Hooks", "read_hooks"]


@dataclass(frozen=True)
class Hooks:
    """The artifacts of one fit, validated against the data's id maps.

    Attributes
    ----------
    item_embeddings, user_embeddings : EmbeddingInit or None
    item_features, user_features : ndarray (n, d) float32 or None
    guidance : GuidanceTargets or None
        ``None`` also when the artifact's ``weight`` is 0: the unguided model.
    negatives : ndarray (m, 3) int64 or None
        Explicit (user, positive, negative) triples.
    """

    item_embeddings: EmbeddingInit | None = None
    user_embeddings: EmbeddingInit | None = None
    item_features: np.ndarray | None = None
    user_features: np.ndarray | None = None
    guidance: GuidanceTargets | None = None
    negatives: np.ndarray | None = None


def read_hooks(X: InteractionData, *, n_factors: int, model_name: str) -> Hooks:
    """The artifacts of ``X`` that a torch recommender uses, or a clear error.

    The values were checked against the artifact contract when they were attached
    (:func:`~skllmers._artifacts.check_artifact`: rows match the id maps, no NaN,
    negatives in range), and which keys the model may train with is checked by
    :func:`~skllmers._artifacts.check_model_artifacts` in ``fit``. What is left here
    depends on the model's parameters: ``"init"`` vectors must have its width.

    Parameters
    ----------
    X : InteractionData
    n_factors : int
        The model's embedding width (``"init"`` vectors must have it).
    model_name : str
        For error messages.
    """
    artifacts = X.artifacts
    guidance = artifacts.get("guidance")
    return Hooks(
        item_embeddings=_embeddings(artifacts.get("item_embeddings"), "item", n_factors,
                                    model_name),
        user_embeddings=_embeddings(artifacts.get("user_embeddings"), "user", n_factors,
                                    model_name),
        item_features=artifacts.get("item_features"),
        user_features=artifacts.get("user_features"),
        guidance=guidance if guidance is not None and guidance.weight > 0 else None,
        negatives=artifacts.get("negatives"),
    )


def _embeddings(init: EmbeddingInit | None, side: str, n_factors: int, model_name: str):
    if init is None:
        return None
    key = f"{side}_embeddings"
    width = init.vectors.shape[1]
    if init.mode == "init" and width != n_factors:
        raise ValueError(
            f"The {key!r} vectors have width {width} but {model_name} has "
            f"n_factors={n_factors}; mode='init' starts the {side} table from them, so the "
            f"widths must match. Reduce the vectors to {n_factors} dimensions (e.g. "
            f"LLMEmbeddingInitializer(n_components={n_factors})), set n_factors={width}, "
            "or use mode='frozen', which learns an adapter from any width."
        )
    return init
