"""Texts of items and users, and their embeddings, shared by the model enhancers.

Every function here works on codes: row ``c`` of a returned array belongs to code ``c``
of the data's id map. An empty text means "nothing to say" and embeds to a zero row.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = [
    "align_rows",
    "check_encoder",
    "embed_texts",
    "item_texts",
    "user_history_texts",
]


def item_texts(X, columns=None) -> np.ndarray:
    """One text per item code of ``X`` (empty string where an item has no text).

    Parameters
    ----------
    X : InteractionData
        Must carry an items table.
    columns : list of str, optional
        Text columns to join; by default every string column of the items table.

    Returns
    -------
    ndarray of str, shape (X.n_items,)
    """
    if X.items is None:
        raise ValueError(
            "The model enhancers embed item text, but this InteractionData has no items "
            "table; build it with InteractionData.from_pandas(df, items=items_table)."
        )
    return X.item_text(columns).to_numpy(dtype=object).astype(str)


def user_history_texts(X, texts: np.ndarray, n_recent: int, random_state=None,
                       sep: str = " | ") -> np.ndarray:
    """Text of each user's ``n_recent`` latest training items, most recent first.

    Only real rows count: rows flagged as augmented are left out, so a profile never
    sees what another enhancer invented. The most recent item comes first so that an
    encoder that truncates long inputs keeps the freshest taste.

    Parameters
    ----------
    X : InteractionData
        Training interactions.
    texts : ndarray of str, shape (X.n_items,)
        Text of each item code (see :func:`item_texts`).
    n_recent : int
        How many of the latest items describe a user.
    random_state : int, RandomState instance or None
        Breaks ties in time (see ``InteractionData.user_sequences``).
    sep : str, default=" | "
        Separator between item texts.

    Returns
    -------
    ndarray of str, shape (X.n_users,)
        Empty for users with no training row.
    """
    real = X.take(~X.augmented_mask())
    indptr, sequence = real.user_sequences(random_state=random_state)
    profiles = np.full(X.n_users, "", dtype=object)
    for user in np.flatnonzero(np.diff(indptr)):
        recent = sequence[max(indptr[user], indptr[user + 1] - n_recent):indptr[user + 1]]
        profiles[user] = sep.join(t for t in texts[recent[::-1]] if t)
    return profiles.astype(str)


def check_encoder(encoder, name: str = "encoder"):
    """``encoder``, or a default :class:`~skllmers.llm.SentenceEncoder` when ``None``.

    Anything with an ``embed(texts) -> array (n, d)`` method is accepted: a text
    encoder or an LLM backend.
    """
    if encoder is None:
        from ..llm import SentenceEncoder

        return SentenceEncoder()
    if not callable(getattr(encoder, "embed", None)):
        raise TypeError(
            f"{name} must have an embed(texts) method returning one vector per text "
            f"(e.g. skllmers.llm.SentenceEncoder or LlamaCppLLM); got {type(encoder).__name__}."
        )
    return encoder


def embed_texts(encoder, texts, what: str = "texts") -> np.ndarray:
    """Embed each distinct non-empty text once; empty texts get a zero row.

    Parameters
    ----------
    encoder : object with ``embed(texts)``
    texts : array-like of str
    what : str, default="texts"
        What the texts are, for the error raised when all of them are empty.

    Returns
    -------
    ndarray of shape (len(texts), d), float32
        A text the encoder failed on (a row of NaN, as backends give with
        ``on_error="skip"``) also gets a zero row, with a warning.
    """
    texts = np.asarray(texts, dtype=object).astype(str)
    has_text = texts != ""
    if not has_text.any():
        raise ValueError(
            f"All {len(texts)} {what} are empty: there is nothing to embed. Check the "
            "items table's text columns (text_columns=...) and, with an LLM, its answers."
        )
    unique, inverse = np.unique(texts[has_text], return_inverse=True)
    vectors = _checked_embedding(encoder.embed(unique.tolist()), len(unique), encoder)
    result = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    result[has_text] = vectors[inverse]
    return result


def _checked_embedding(vectors, n_texts: int, encoder) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != n_texts:
        raise ValueError(
            f"{type(encoder).__name__}.embed returned shape {vectors.shape} for {n_texts} "
            "texts; it must return one row per text."
        )
    if np.isinf(vectors).any():
        raise ValueError(f"{type(encoder).__name__}.embed returned infinite values.")
    failed = np.isnan(vectors).any(axis=1)
    if failed.any():
        warnings.warn(
            f"{type(encoder).__name__}.embed gave no vector (NaN) for {int(failed.sum())} of "
            f"{n_texts} texts; they get zero vectors, as texts with nothing to say do.",
            UserWarning,
            stacklevel=4,
        )
        vectors = vectors.copy()
        vectors[failed] = 0.0
    return vectors


def align_rows(fitted_ids: pd.Index, ids: pd.Index, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` (indexed by ``fitted_ids``' codes) re-indexed to ``ids``' codes, by value.

    Returns
    -------
    aligned : ndarray of shape (len(ids), d)
        Zero where an id was not in ``fitted_ids``.
    known : ndarray of bool, shape (len(ids),)
    """
    if ids is fitted_ids or ids.equals(fitted_ids):
        return rows.copy(), np.ones(len(ids), bool)
    positions = fitted_ids.get_indexer(ids)
    known = positions >= 0
    aligned = np.zeros((len(ids), rows.shape[1]), dtype=rows.dtype)
    aligned[known] = rows[positions[known]]
    return aligned, known
