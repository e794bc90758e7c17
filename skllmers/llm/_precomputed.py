"""PrecomputedVectors: vectors you already hold, keyed by item or user id, as an encoder."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["PrecomputedVectors"]

_SIDES = ("items", "users")
_N_NAMED = 5


class PrecomputedVectors:
    """Vectors keyed by item or user id that stand in for a text encoder.

    Pass it as ``encoder=`` to :class:`~skllmers.LLMSummaryFeaturizer`,
    :class:`~skllmers.model_enhancement.LLMEmbeddingInitializer` or
    :class:`~skllmers.model_enhancement.GuidanceRegularizer`: instead of encoding text,
    they look each item's (user's) vector up by its id. This is how embeddings computed
    elsewhere come in, for example a provider's embedding API run once over the
    catalogue, or vectors from another model. No LLM and no encoder is loaded.

    Parameters
    ----------
    items : pandas.DataFrame, optional
        One row per item, indexed by item id (the ids of the ``InteractionData``), one
        numeric column per dimension.
    users : pandas.DataFrame, optional
        The same for users. When both are given they must have the same width (the
        transformers put users and items in one space). Without ``users``, a user's
        vector is the mean of the vectors of their most recent training items (their
        ``max_history`` latest, augmented rows left out).

    Attributes
    ----------
    width : int
        Number of dimensions.

    Raises
    ------
    TypeError
        When a table is not a DataFrame, or a column is not numeric.
    ValueError
        When neither table is given, a table is empty, has duplicate ids, holds NaN or
        infinite values, or the two widths differ.

    Notes
    -----
    Every id of the fitted data's id map must have a vector (a missing id is an error
    that names a few of them). Ids first met at ``transform`` follow the
    transformer's ``unseen_items`` / ``unseen_users``: ``"encode"`` looks them up here
    (and raises if they are missing), ``"zeros"`` gives zero rows and ``"error"``
    raises. Vectors cannot encode text: an LLM's summaries or a users table's profile
    text need a text encoder, so those combinations are rejected in ``fit``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.llm import PrecomputedVectors
    >>> from skllmers.model_enhancement import LLMEmbeddingInitializer
    >>> data = InteractionData.from_pandas(
    ...     pd.DataFrame({"user_id": [1, 1, 2], "item_id": ["a", "b", "c"]}))
    >>> vectors = pd.DataFrame(np.eye(3), index=["a", "b", "c"])
    >>> init = LLMEmbeddingInitializer(PrecomputedVectors(items=vectors),
    ...                                n_components=None, reduction=None, target_std=None)
    >>> init.fit_transform(data).artifacts["item_embeddings"].vectors.tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    >>> PrecomputedVectors(items=vectors).lookup("items", ["c", "a"]).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """

    def __init__(self, items=None, users=None):
        if items is None and users is None:
            raise ValueError("PrecomputedVectors needs items=, users= or both (DataFrames "
                             "of vectors indexed by id).")
        self.items = None if items is None else _checked_table(items, "items")
        self.users = None if users is None else _checked_table(users, "users")
        widths = {t.shape[1] for t in (self.items, self.users) if t is not None}
        if len(widths) > 1:
            raise ValueError(
                f"PrecomputedVectors: items have {self.items.shape[1]} columns but users "
                f"{self.users.shape[1]}; give both sides vectors of one width."
            )
        self.width = widths.pop()

    def has(self, side: str) -> bool:
        """Whether vectors of ``side`` ("items" or "users") were given.

        Examples
        --------
        >>> import pandas as pd
        >>> PrecomputedVectors(items=pd.DataFrame({"d0": [1.0]}, index=["a"])).has("users")
        False
        """
        return self._table(side, required=False) is not None

    def lookup(self, side: str, ids) -> np.ndarray:
        """The vectors of ``ids`` on ``side``, float32 (len(ids), width).

        Raises a ValueError naming a few ids that have no vector.

        Examples
        --------
        >>> import pandas as pd
        >>> vectors = PrecomputedVectors(users=pd.DataFrame({"d0": [1.0]}, index=[7]))
        >>> vectors.lookup("users", [7]).tolist()
        [[1.0]]
        """
        vectors, known = self.lookup_known(side, ids)
        if not known.all():
            ids = pd.Index(ids)
            missing = list(ids[~known][:_N_NAMED])
            table = self._table(side)
            raise ValueError(
                f"PrecomputedVectors has no {side[:-1]} vector for {int((~known).sum())} of "
                f"{len(ids)} {side} ({missing}{', ...' if (~known).sum() > _N_NAMED else ''})."
                f" Add rows for them to {side}= (its index holds ids like "
                f"{list(table.index[:3])}, dtype {table.index.dtype})."
            )
        return vectors

    def lookup_known(self, side: str, ids):
        """Vectors of ``ids`` (zero rows where missing) and a mask of the ids found.

        Examples
        --------
        >>> import pandas as pd
        >>> vectors = PrecomputedVectors(items=pd.DataFrame({"d0": [2.0]}, index=["a"]))
        >>> rows, known = vectors.lookup_known("items", ["a", "z"])
        >>> rows.tolist(), known.tolist()
        ([[2.0], [0.0]], [True, False])
        """
        table = self._table(side)
        positions = table.index.get_indexer(pd.Index(ids))
        known = positions >= 0
        vectors = np.zeros((len(positions), self.width), np.float32)
        vectors[known] = table.to_numpy(np.float32)[positions[known]]
        return vectors, known

    def embed(self, texts):
        """Not available: these vectors are looked up by id, not computed from text.

        Raises
        ------
        TypeError
            Always, naming what to use instead.

        Examples
        --------
        >>> import pandas as pd
        >>> PrecomputedVectors(items=pd.DataFrame({"d0": [1.0]}, index=["a"])).embed(["x"])
        Traceback (most recent call last):
        ...
        TypeError: PrecomputedVectors looks vectors up by item or user id and cannot embed text...
        """
        raise TypeError(
            "PrecomputedVectors looks vectors up by item or user id and cannot embed text; "
            "this step needs a text encoder (e.g. skllmers.llm.SentenceEncoder) as encoder=."
        )

    def identity(self) -> dict:
        """What determines the vectors: class, sides, width and a hash of the values.

        Examples
        --------
        >>> import pandas as pd
        >>> PrecomputedVectors(items=pd.DataFrame({"d0": [1.0]}, index=["a"])).identity()["width"]
        1
        """
        digest = {side: int(pd.util.hash_pandas_object(table).sum() % (1 << 62))
                  for side in _SIDES if (table := self._table(side, required=False)) is not None}
        return {"class": type(self).__name__, "width": self.width, "hash": digest}

    def __repr__(self) -> str:
        # the content hash tells two tables of one shape apart (benchmark keys use repr)
        sizes = ", ".join(f"{side}={len(t)} rows" for side in _SIDES
                          if (t := self._table(side, required=False)) is not None)
        digest = "-".join(f"{h:x}"[:8] for h in self.identity()["hash"].values())
        return f"PrecomputedVectors({sizes}, width={self.width}, hash={digest})"

    def _table(self, side: str, required: bool = True):
        if side not in _SIDES:
            raise ValueError(f"side={side!r}; use 'items' or 'users'.")
        table = getattr(self, side)
        if table is None and required:
            raise ValueError(f"PrecomputedVectors was given no {side}= vectors.")
        return table


def _checked_table(table, side: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"PrecomputedVectors({side}=...) must be a pandas DataFrame indexed "
                        f"by id, one column per dimension; got {type(table).__name__}.")
    if table.shape[0] == 0 or table.shape[1] == 0:
        raise ValueError(f"PrecomputedVectors({side}=...) is empty (shape {table.shape}).")
    not_numeric = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])
                   or pd.api.types.is_bool_dtype(table[c])]
    if not_numeric:
        raise TypeError(f"PrecomputedVectors({side}=...) has non-numeric columns "
                        f"{not_numeric[:_N_NAMED]}; every column must be a vector dimension.")
    duplicated = table.index[table.index.duplicated()].unique()
    if len(duplicated):
        raise ValueError(f"PrecomputedVectors({side}=...) has duplicate ids "
                         f"{list(duplicated[:_N_NAMED])}; give one vector per id.")
    values = table.to_numpy(np.float64)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise ValueError(f"PrecomputedVectors({side}=...) has NaN or infinite values for ids "
                         f"{list(table.index[bad][:_N_NAMED])}.")
    return table.astype(np.float32)


def check_precomputed_use(encoder, sides, *, llm=None, user_text_columns=None) -> None:
    """Raise when PrecomputedVectors cannot serve ``sides`` as configured.

    A side needs vectors for its ids; text (an LLM's answers, a users table's profile)
    cannot be looked up, and an LLM whose every answer would be replaced by a looked-up
    vector would be called for nothing.
    """
    if not isinstance(encoder, PrecomputedVectors):
        return
    if "items" in sides and not encoder.has("items"):
        raise ValueError("This step needs item vectors, but the PrecomputedVectors given as "
                         "encoder has no items=; add them or pass a text encoder.")
    if "users" in sides and encoder.has("users") and user_text_columns is not None:
        raise ValueError("Both user_text_columns and PrecomputedVectors(users=...) describe "
                         "the users; pass one of them.")
    if "users" in sides and not encoder.has("users") and (
            llm is not None or user_text_columns is not None):
        raise ValueError(
            "User descriptions from an llm or from user_text_columns are text, and a "
            "PrecomputedVectors cannot encode text: give it users= vectors, or pass a "
            "text encoder."
        )
    if llm is not None and all(encoder.has(side) for side in sides):
        raise ValueError(
            "The llm would never be called: the PrecomputedVectors given as encoder has "
            f"vectors for every side of {list(sides)}. Pass llm=None, or a text encoder."
        )
