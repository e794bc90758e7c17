"""What enhancers hand to recommenders through :class:`~skllmers.InteractionData`.

Artifacts are indexed by code (rows of the id maps), never by interaction row, so every
row view of the data shares them. Enhancers attach them with
``data.with_artifacts(name=value)``; recommenders read ``data.artifacts[name]``.

The keys form a typed contract, :data:`ARTIFACTS`: each key has a value rule, the step
that writes it and the recommenders that read it.

* **Attaching** (:meth:`InteractionData.with_artifacts` and the constructor) checks the
  key and the value through :func:`check_artifact`: an unknown key (a misspelling such
  as ``"item_embedding"``) raises, naming the known keys; a value that breaks its rule
  (rows other than the id map's size, NaN, codes out of range) raises; a value that
  keeps it is stored in its canonical form (float32 matrices, an
  :class:`EmbeddingInit` for a mapping, int64 triples).
* **Two steps writing one key** (:func:`merge_artifact`): ``"negatives"`` triples are
  appended after the ones already there (two interaction steps each add theirs);
  every other key raises, since one value would silently replace the other. To replace
  a value on purpose, drop it first with ``data.without_artifacts(key)``.
* **Training** (:func:`check_model_artifacts`, called by every recommender's ``fit``):
  a model handed an artifact it cannot train with raises, naming the ones that can, so
  an enhancer's work is never dropped without a word.

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

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["EmbeddingInit", "GuidanceTargets", "ARTIFACTS", "ARTIFACT_KEYS", "ArtifactSpec",
           "check_artifact", "merge_artifact", "check_model_artifacts"]

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


# ---------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class ArtifactSpec:
    """The contract of one artifact key.

    Attributes
    ----------
    key : str
    value : str
        The value rule, in words (for error messages and the docs).
    written_by : str
        The step that writes it.
    read_by : tuple of str
        The recommenders that train with it (a condition in parentheses where only
        some values serve).
    merge : {"error", "append"}
        What attaching it to data that already carries it does (see
        :func:`merge_artifact`).
    check : callable
        ``check(value, n_users, n_items) -> value``: the canonical value, or a
        ``ValueError`` / ``TypeError`` naming what breaks the rule.
    """

    key: str
    value: str
    written_by: str
    read_by: tuple
    merge: str
    check: Callable[[Any, int, int], Any]

    def readers(self) -> str:
        """``read_by`` as an English list: ``"A, B or C"``."""
        names = list(self.read_by)
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"

    def describe(self) -> str:
        """One line: the key, its value rule, its writer and its readers."""
        return (f"{self.key!r}: {self.value}; written by {self.written_by}; read by "
                f"{self.readers()}")


def _check_features(side: str):
    def check(value, n_users: int, n_items: int) -> np.ndarray:
        key, n = f"{side}_features", (n_items if side == "item" else n_users)
        if sp.issparse(value):
            raise TypeError(f"The {key!r} artifact must be a dense array (n_{side}s, d); "
                            "got a sparse matrix: pass value.toarray().")
        try:
            features = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise TypeError(f"The {key!r} artifact must be a numeric array (n_{side}s, d); "
                            f"got {type(value).__name__} ({error}).") from None
        if features.ndim != 2:
            raise ValueError(f"The {key!r} artifact must be 2-D (one row per {side} code), "
                             f"got shape {features.shape}.")
        _check_rows(features, n, f"The {key!r} artifact has", side)
        if not np.isfinite(features).all():
            row = int(np.flatnonzero(~np.isfinite(features).all(axis=1))[0])
            raise ValueError(f"The {key!r} artifact contains NaN or infinite values "
                             f"(first in row {row}, {side} code {row}).")
        return features
    return check


def _check_embeddings(side: str):
    def check(value, n_users: int, n_items: int) -> EmbeddingInit:
        key = f"{side}_embeddings"
        init = _as_dataclass(value, EmbeddingInit, key, "'vectors' and 'mode'",
                             "EmbeddingInit(vectors)")
        _check_rows(init.vectors, n_items if side == "item" else n_users,
                    f"The {key!r} vectors have", side)
        return init
    return check


def _check_guidance(value, n_users: int, n_items: int) -> GuidanceTargets:
    guidance = _as_dataclass(value, GuidanceTargets, "guidance",
                             "'item_targets' and/or 'user_targets'",
                             "GuidanceTargets(item_targets=vectors)")
    if guidance.item_targets is not None:
        _check_rows(guidance.item_targets, n_items, "Guidance item_targets have", "item")
    if guidance.user_targets is not None:
        _check_rows(guidance.user_targets, n_users, "Guidance user_targets have", "user")
    return guidance


def _check_negatives(value, n_users: int, n_items: int) -> np.ndarray:
    triples = np.asarray(value)
    if triples.ndim != 2 or triples.shape[1] != 3:
        raise ValueError("The 'negatives' artifact must have shape (m, 3): user, positive "
                         f"and negative item codes; got shape {triples.shape}.")
    if len(triples) and not np.issubdtype(triples.dtype, np.integer):
        raise TypeError("The 'negatives' artifact must hold integer codes, got dtype "
                        f"{triples.dtype}.")
    triples = triples.astype(np.int64)
    columns = (("user", n_users), ("positive", n_items), ("negative", n_items))
    for column, (name, bound) in enumerate(columns):
        outside = (triples[:, column] < 0) | (triples[:, column] >= bound)
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise ValueError(
                f"The 'negatives' artifact has {name} codes outside [0, {bound}) (first in "
                f"row {row}: {triples[row].tolist()}); it must use the data's codes.")
    return triples


_FEATURE_READERS = ("LightFMRecommender", "BPRRecommender", "LightGCNRecommender")
#: The artifact contract: key -> :class:`ArtifactSpec`, in the order of the docs table.
ARTIFACTS: Mapping[str, ArtifactSpec] = MappingProxyType({spec.key: spec for spec in (
    ArtifactSpec("item_features", "float32 array (n_items, d) of side features",
                 "LLMSummaryFeaturizer",
                 (*_FEATURE_READERS, "SASRecRecommender", "EASERecommender (beta set)"),
                 "error", _check_features("item")),
    ArtifactSpec("user_features", "float32 array (n_users, d) of side features",
                 "LLMSummaryFeaturizer", _FEATURE_READERS, "error",
                 _check_features("user")),
    ArtifactSpec("item_embeddings", "EmbeddingInit with vectors (n_items, d)",
                 "LLMEmbeddingInitializer",
                 ("ALSRecommender (mode='init', or as its prior)", "BPRRecommender",
                  "LightGCNRecommender", "SASRecRecommender", "EASERecommender (beta set)"),
                 "error", _check_embeddings("item")),
    ArtifactSpec("user_embeddings", "EmbeddingInit with vectors (n_users, d)",
                 "LLMEmbeddingInitializer(target='both')",
                 ("BPRRecommender", "LightGCNRecommender"), "error",
                 _check_embeddings("user")),
    ArtifactSpec("guidance", "GuidanceTargets with item_targets (n_items, d) and/or "
                 "user_targets (n_users, d)", "GuidanceRegularizer",
                 ("BPRRecommender", "LightGCNRecommender", "SASRecRecommender"), "error",
                 _check_guidance),
    ArtifactSpec("negatives", "int array (m, 3) of (user, positive, negative) codes",
                 "LLMInteractionAugmenter(sample_negatives=True)",
                 ("BPRRecommender", "LightGCNRecommender"), "append", _check_negatives),
)})
ARTIFACT_KEYS = tuple(ARTIFACTS)


def artifact_spec(key: str) -> ArtifactSpec:
    """The contract of ``key``, or a ``ValueError`` naming the known keys.

    Examples
    --------
    >>> from skllmers._artifacts import artifact_spec
    >>> artifact_spec("negatives").merge
    'append'
    >>> artifact_spec("item_embedding")
    Traceback (most recent call last):
    ...
    ValueError: Unknown artifact key 'item_embedding' (did you mean 'item_embeddings'?)...
    """
    if key in ARTIFACTS:
        return ARTIFACTS[key]
    close = difflib.get_close_matches(str(key), ARTIFACT_KEYS, n=1)
    suggestion = f" (did you mean {close[0]!r}?)" if close else ""
    known = "\n".join(f"  {spec.describe()}" for spec in ARTIFACTS.values())
    raise ValueError(f"Unknown artifact key {key!r}{suggestion}. The known keys:\n{known}")


def check_artifact(key: str, value, *, n_users: int, n_items: int):
    """Check ``value`` against the rule of artifact ``key``; return its canonical form.

    Parameters
    ----------
    key : str
        One of :data:`ARTIFACT_KEYS`; any other raises a ``ValueError`` naming them,
        with the step that writes each and the models that read each.
    value : object
        The artifact.
    n_users, n_items : int
        Sizes of the id maps of the data it is attached to.

    Returns
    -------
    object
        ``value`` in canonical form (float32 features, an :class:`EmbeddingInit` or
        :class:`GuidanceTargets` for a mapping, int64 negatives).

    Examples
    --------
    >>> import numpy as np
    >>> from skllmers._artifacts import check_artifact
    >>> check_artifact("negatives", [[0, 1, 2]], n_users=1, n_items=3).dtype
    dtype('int64')
    >>> check_artifact("item_features", np.ones((2, 4)), n_users=1, n_items=3)
    Traceback (most recent call last):
    ...
    ValueError: The 'item_features' artifact has 2 rows but the data has 3 items; ...
    """
    return artifact_spec(key).check(value, int(n_users), int(n_items))


def merge_artifact(key: str, existing, new):
    """The value of ``key`` when a second step attaches ``new`` over ``existing``.

    ``"negatives"`` triples are appended after the existing ones (a triple given twice
    counts twice, as a repeated row does). Every other key raises: one step's value
    would silently replace the other's.

    Parameters
    ----------
    key : str
    existing, new : object
        Checked values (see :func:`check_artifact`).

    Returns
    -------
    object

    Examples
    --------
    >>> import numpy as np
    >>> from skllmers._artifacts import merge_artifact
    >>> merge_artifact("negatives", np.array([[0, 0, 1]]), np.array([[1, 2, 0]])).tolist()
    [[0, 0, 1], [1, 2, 0]]
    """
    spec = artifact_spec(key)
    if spec.merge == "append":
        return np.concatenate([existing, new])
    raise ValueError(
        f"The data already carries a {key!r} artifact (written by {spec.written_by}), and "
        f"another {key!r} is being attached: two steps write it, and one would silently "
        f"replace the other. Keep one such step in the pipeline, or drop the old value "
        f"first with data.without_artifacts({key!r})."
    )


def check_model_artifacts(model, artifacts: Mapping[str, Any]) -> None:
    """Raise unless ``model`` can train with every artifact in ``artifacts``.

    The one answer to "can this model train with this artifact", used by every
    recommender's ``fit``. A model declares what it reads in class attributes:

    ``_artifacts_read`` : frozenset of str
        The keys it trains with.
    ``_unsupported_artifacts`` : dict of str to str, optional
        Keys it cannot honour after all (``"negatives"``) or fields of one
        (``"guidance.user_targets"``), with the reason.
    ``_artifact_hints`` : dict of str to str, optional
        Extra advice per unread key (e.g. what to attach instead).

    Parameters
    ----------
    model : estimator
    artifacts : mapping of str to object
        The data's artifacts.

    Examples
    --------
    >>> import numpy as np
    >>> from skllmers._artifacts import check_model_artifacts
    >>> from skllmers.recommenders import EASERecommender
    >>> check_model_artifacts(EASERecommender(), {"negatives": np.zeros((0, 3), int)})
    Traceback (most recent call last):
    ...
    ValueError: The data carries a 'negatives' artifact (from ...), which EASERecommender cannot train with. Use BPRRecommender or LightGCNRecommender, or remove that step from the pipeline.
    """  # noqa: E501
    name = type(model).__name__
    read = getattr(model, "_artifacts_read", frozenset())
    unsupported = getattr(model, "_unsupported_artifacts", {}) or {}
    hints = getattr(model, "_artifact_hints", {}) or {}
    for key, value in artifacts.items():
        spec = artifact_spec(key)
        if key not in read or key in unsupported:
            hint = unsupported.get(key) or hints.get(key, "")
            raise ValueError(
                f"The data carries a {key!r} artifact (from {spec.written_by}), which "
                f"{name} cannot train with. {hint}{' ' if hint else ''}"
                f"Use {spec.readers()}, or remove that step from the pipeline."
            )
        for field_key, reason in unsupported.items():
            base, _, field = field_key.partition(".")
            if base == key and field and getattr(value, field, None) is not None:
                raise ValueError(f"The data carries a {field_key!r} artifact, which {name} "
                                 f"cannot train with: {reason}")


def _as_dataclass(value, cls, key: str, fields: str, example: str):
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        try:
            return cls(**value)
        except TypeError as error:
            raise TypeError(f"The {key!r} artifact mapping must have the fields of "
                            f"{cls.__name__} ({fields}): {error}") from None
    article = "an" if cls.__name__[0] in "AEIOU" else "a"
    raise TypeError(f"The {key!r} artifact must be {article} {cls.__name__} (or a mapping with "
                    f"{fields}), got {type(value).__name__}; wrap it, e.g. {example}.")


def _check_rows(matrix: np.ndarray, n: int, what: str, side: str) -> None:
    if len(matrix) != n:
        raise ValueError(f"{what} {len(matrix)} rows but the data has {n} {side}s; "
                         f"one row per {side} code is needed.")
