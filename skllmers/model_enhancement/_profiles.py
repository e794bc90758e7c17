"""Item and user vectors of the model enhancers: from text, a users table or by id.

Both LLMEmbeddingInitializer and GuidanceRegularizer describe an item by its text and a
user by (in this order of precedence) a vector looked up by id
(:class:`~skllmers.llm.PrecomputedVectors` with ``users=``), a ready-made profile from
the users table (``user_text_columns``), or their recent history: the texts of their
``max_history`` most recent real items, oldest first, joined by ``" | "`` (or, with
PrecomputedVectors that have no ``users=``, the mean of those items' vectors).
"""

from __future__ import annotations

import numpy as np

from .._text import embed_texts, history_texts, item_texts, recent_histories, user_texts
from ..llm._precomputed import PrecomputedVectors

__all__ = ["SIDES", "UserSources", "item_raw_vectors", "precomputed", "user_raw_vectors"]

SIDES = {"items": ("items",), "users": ("users",), "both": ("items", "users")}


def precomputed(encoder):
    """``encoder`` if it is a PrecomputedVectors, else None."""
    return encoder if isinstance(encoder, PrecomputedVectors) else None


def item_raw_vectors(X, codes, encoder, texts=None, *, width=None, text_columns=None):
    """Vectors of item ``codes`` and a mask of those with something to say.

    Looked up by id with PrecomputedVectors (every item has a vector), else the
    encoded item texts (``texts``, one per code of ``X``; zero rows for empty text).
    """
    vectors = precomputed(encoder)
    if vectors is not None:
        return vectors.lookup("items", X.item_ids[codes]), np.ones(len(codes), bool)
    texts = (item_texts(X, text_columns) if texts is None else texts)[codes]
    raw = embed_texts(encoder, texts, ids=X.item_ids[codes], what="item texts", width=width)
    return raw, texts != ""


class UserSources:
    """Where each user's description comes from, for one dataset.

    Attributes
    ----------
    profiles : ndarray of str, shape (n_users,)
        Ready-made profile text (``user_text_columns``); ``""`` where there is none.
    histories : list of ndarray
        Recent real item codes per user, oldest first.
    """

    def __init__(self, X, *, user_text_columns, max_history, random_state, required=True):
        # at transform (required=False), data without a users table has no profiles
        no_profiles = user_text_columns is None or (X.users is None and not required)
        self.profiles = (np.full(X.n_users, "", dtype=object).astype(str)
                         if no_profiles else user_texts(X, user_text_columns))
        self.histories = recent_histories(X, max_history, random_state)

    def from_history(self, codes) -> np.ndarray:
        """Mask of ``codes`` described by their history (no profile, some history)."""
        return np.array([self.profiles[u] == "" and len(self.histories[u]) > 0
                         for u in codes], dtype=bool)

    def history_texts(self, codes, names) -> np.ndarray:
        """History text of each of ``codes``, naming item code ``c`` by ``names[c]``."""
        return history_texts([self.histories[u] for u in codes], names)


def user_raw_vectors(X, codes, encoder, texts, sources, item_vectors_of, *, width=None):
    """Vectors of user ``codes`` and a mask of those with something to say.

    Parameters
    ----------
    texts : ndarray of str, shape (len(codes),)
        The text that describes each user (profile, LLM summary or history text); used
        unless ``encoder`` is a PrecomputedVectors.
    item_vectors_of : callable
        ``item_vectors_of(item_codes) -> (n, d)``: raw item vectors, for users whose
        vector is the mean of their history's (PrecomputedVectors without ``users=``).
    """
    vectors = precomputed(encoder)
    codes = np.asarray(codes, dtype=np.int64)
    if vectors is not None and vectors.has("users"):
        return vectors.lookup("users", X.user_ids[codes]), np.ones(len(codes), bool)
    if vectors is not None:  # the mean of the history's item vectors
        has = np.array([len(sources.histories[u]) > 0 for u in codes], dtype=bool)
        out = np.zeros((len(codes), vectors.width), np.float32)
        for row in np.flatnonzero(has):
            out[row] = item_vectors_of(sources.histories[codes[row]]).mean(axis=0)
        return out, has
    texts = np.asarray(texts, dtype=object).astype(str)
    raw = embed_texts(encoder, texts, ids=X.user_ids[codes], what="user profiles",
                      width=width)
    return raw, texts != ""
