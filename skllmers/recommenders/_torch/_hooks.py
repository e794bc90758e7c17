"""Which enhancer artifacts a torch recommender trains with, read and checked once."""

from __future__ import annotations

from collections.abc import Mapping
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


def read_hooks(X: InteractionData, *, n_factors: int, model_name: str,
               unsupported: Mapping[str, str] | None = None) -> Hooks:
    """The artifacts of ``X`` that a torch recommender uses, or a clear error.

    Parameters
    ----------
    X : InteractionData
    n_factors : int
        The model's embedding width (``"init"`` vectors must have it).
    model_name : str
        For error messages.
    unsupported : mapping of str to str, optional
        Artifact keys (``"user_features"``, ``"negatives"``, ``"guidance.user_targets"``,
        ...) the model cannot honour, with the reason; their presence raises.
    """
    artifacts = X.artifacts
    for key, reason in (unsupported or {}).items():
        if _present(artifacts, key):
            raise ValueError(
                f"The data carries a {key!r} artifact, which {model_name} cannot train "
                f"with: {reason}"
            )
    guidance = _guidance(artifacts.get("guidance"), X)
    return Hooks(
        item_embeddings=_embeddings(artifacts.get("item_embeddings"), X.n_items, "item",
                                    n_factors, model_name),
        user_embeddings=_embeddings(artifacts.get("user_embeddings"), X.n_users, "user",
                                    n_factors, model_name),
        item_features=_features(artifacts.get("item_features"), X.n_items, "item"),
        user_features=_features(artifacts.get("user_features"), X.n_users, "user"),
        guidance=guidance if guidance is not None and guidance.weight > 0 else None,
        negatives=_negatives(artifacts.get("negatives"), X),
    )


def _present(artifacts: Mapping, key: str) -> bool:
    name, _, field = key.partition(".")
    value = artifacts.get(name)
    if value is None:
        return False
    return not field or _field(value, field) is not None


def _field(value, name: str):
    return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)


def _embeddings(value, n: int, side: str, n_factors: int, model_name: str):
    if value is None:
        return None
    key = f"{side}_embeddings"
    init = _as(value, EmbeddingInit, key, "'vectors' and 'mode'")
    _check_rows(init.vectors, n, f"The {key!r} vectors", side)
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


def _guidance(value, X: InteractionData):
    if value is None:
        return None
    guidance = _as(value, GuidanceTargets, "guidance", "'item_targets' and/or 'user_targets'")
    if guidance.item_targets is not None:
        _check_rows(guidance.item_targets, X.n_items, "Guidance item_targets", "item")
    if guidance.user_targets is not None:
        _check_rows(guidance.user_targets, X.n_users, "Guidance user_targets", "user")
    return guidance


def _features(value, n: int, side: str):
    if value is None:
        return None
    features = np.asarray(value, dtype=np.float32)
    if features.ndim != 2:
        raise ValueError(f"The '{side}_features' artifact must be 2-D, got shape "
                         f"{features.shape}.")
    _check_rows(features, n, f"The '{side}_features' artifact", side)
    if not np.isfinite(features).all():
        raise ValueError(f"The '{side}_features' artifact contains NaN or infinite values.")
    return features


def _negatives(value, X: InteractionData):
    if value is None:
        return None
    triples = np.asarray(value)
    if triples.ndim != 2 or triples.shape[1] != 3:
        raise ValueError("The 'negatives' artifact must have shape (m, 3): user, positive "
                         f"and negative item codes; got shape {triples.shape}.")
    if len(triples) and not np.issubdtype(triples.dtype, np.integer):
        raise TypeError(f"The 'negatives' artifact must hold integer codes, got dtype "
                        f"{triples.dtype}.")
    triples = triples.astype(np.int64)
    bounds = (X.n_users, X.n_items, X.n_items)
    for column, (name, bound) in enumerate(zip(("user", "positive", "negative"), bounds,
                                                strict=True)):
        codes = triples[:, column]
        if len(codes) and (codes.min() < 0 or codes.max() >= bound):
            raise ValueError(f"The 'negatives' artifact has {name} codes outside "
                             f"[0, {bound}); it must use the data's codes.")
    return triples


def _as(value, cls, key: str, fields: str):
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        return cls(**value)
    raise TypeError(f"The {key!r} artifact must be a {cls.__name__} (or a mapping with "
                    f"{fields}), got {type(value).__name__}.")


def _check_rows(matrix: np.ndarray, n: int, what: str, side: str) -> None:
    if len(matrix) != n:
        raise ValueError(f"{what} have {len(matrix)} rows but the data has {n} {side}s; "
                         f"they need one row per {side} code.")
