"""The data contract: :class:`InteractionData`, the one object that flows through every Pipeline."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._artifacts import check_artifact, merge_artifact

__all__ = ["InteractionData", "check_interaction_data"]

_DUPLICATE_POLICIES = ("keep", "sum", "last", "error")
_ROW_COLUMNS = ("user_codes", "item_codes", "ratings", "timestamps", "weights", "augmented")


class _ILocIndexer:
    """``data.iloc[rows]``: positional row selection, as pandas offers it."""

    def __init__(self, data: InteractionData):
        self._data = data

    def __getitem__(self, rows) -> InteractionData:
        if isinstance(rows, tuple):
            raise IndexError("InteractionData is one-dimensional: index it with rows only.")
        return self._data.take(rows)


class InteractionData:
    """User-item interactions with shared id maps, side tables and enhancer artifacts.

    Every step of a skllmers Pipeline takes and returns an ``InteractionData``. Its rows
    are interactions held as integer-coded numpy columns; the id maps translate between
    the user's own ids (any hashable values) and contiguous codes ``0..n-1``. Selecting
    rows (``take``, ``iloc``, ``data[rows]``) returns a new object that *shares* the id
    maps, side tables and artifacts, so scikit-learn's splitters and ``GridSearchCV``
    slice it with no adapter and all views agree on what code 17 means.

    Build one with :meth:`from_pandas`; the constructor takes already-coded arrays.

    Parameters
    ----------
    user_codes, item_codes : array-like of int
        Codes into ``user_ids`` and ``item_ids``, one per interaction.
    user_ids, item_ids : pandas.Index
        External ids; position ``c`` holds the external id of code ``c``. Items (users)
        that appear only in the side table are cold: they have a code and no rows.
    ratings : array-like of float, optional
        Explicit rating or implicit strength of each interaction. Finite; NaN only on
        augmented rows (an added interaction has no rating).
    timestamps : array-like of int, float or datetime64, optional
        Time of each interaction (any monotone unit, e.g. Unix seconds; datetimes
        become int64 nanoseconds). Finite.
    weights : array-like of float, optional
        Training weight of each row, finite and >= 0; ``None`` means 1. Enhancers use
        it to down-weight augmented or noisy rows.
    augmented : array-like of bool, optional
        ``True`` for rows an enhancer added; ``None`` means no row is augmented.
    items, users : pandas.DataFrame, optional
        Side tables indexed by the external id. They are reindexed to
        ``item_ids``/``user_ids`` (row ``c`` describes code ``c``, so an item never gets
        another item's text; an id with no row gets a row of missing values). An id of
        the table that is not in the id map raises a ``ValueError``: the constructor
        never grows the id maps. :meth:`from_pandas` keeps such ids as cold items
        (users) instead.
    artifacts : mapping, optional
        What enhancers computed (see Notes). Read-only; attach with :meth:`with_artifacts`.

    Attributes
    ----------
    n_users, n_items : int
        Sizes of the id maps (including cold users and items).
    shape : tuple of int
        ``(n_rows,)``: scikit-learn counts samples with ``shape[0]``.

    Notes
    -----
    Artifacts are indexed by code, not by row, so every row view shares them. They form
    a typed contract (:data:`skllmers._artifacts.ARTIFACTS`): keys and values are checked
    when attached, an unknown key raises naming the known ones, and a key attached
    twice raises (``"negatives"`` triples are appended instead). The keys:

    ``"item_features"``, ``"user_features"``
        float32 arrays of shape ``(n_items, d)`` / ``(n_users, d)`` (side features, e.g.
        encoded LLM summaries).
    ``"item_embeddings"``, ``"user_embeddings"``
        an :class:`~skllmers.EmbeddingInit` with ``vectors``
        ``(n_items, d)`` / ``(n_users, d)`` and ``mode`` (``"init"`` or ``"frozen"``).
    ``"guidance"``
        alignment targets for a guidance loss (see ``GuidanceRegularizer``).
    ``"negatives"``
        explicit ``(user_code, positive_code, negative_code)`` triples, shape ``(m, 3)``.

    ``y`` is always ``None`` in skllmers: a step that adds rows would otherwise break
    scikit-learn's alignment of ``y`` with ``X``.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> df = pd.DataFrame({"user": ["ann", "ann", "bob"], "item": ["a", "b", "a"],
    ...                    "rating": [5.0, 3.0, 4.0], "ts": [1, 2, 3]})
    >>> data = InteractionData.from_pandas(df, user_col="user", item_col="item",
    ...                                    rating_col="rating", time_col="ts")
    >>> len(data), data.n_users, data.n_items
    (3, 2, 2)
    >>> data.to_csr().toarray()
    array([[5., 3.],
           [4., 0.]], dtype=float32)
    >>> data.iloc[[2]].to_pandas()
      user_id item_id  rating  timestamp
    0     bob       a     4.0          3
    """

    def __init__(
        self,
        user_codes,
        item_codes,
        *,
        user_ids: pd.Index,
        item_ids: pd.Index,
        ratings=None,
        timestamps=None,
        weights=None,
        augmented=None,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        artifacts: Mapping[str, Any] | None = None,
    ):
        self.user_ids = _as_id_index(user_ids, "user_ids")
        self.item_ids = _as_id_index(item_ids, "item_ids")
        self.user_codes = _as_codes(user_codes, len(self.user_ids), "user_codes")
        self.item_codes = _as_codes(item_codes, len(self.item_ids), "item_codes")
        n = len(self.user_codes)
        if len(self.item_codes) != n:
            raise ValueError(
                f"user_codes has {n} rows but item_codes has {len(self.item_codes)}; "
                "every interaction needs one user and one item."
            )
        self.augmented = _optional_column(augmented, n, bool, "augmented")
        self.ratings = _optional_column(ratings, n, np.float32, "ratings")
        _check_finite(self.ratings, "ratings", nan_allowed=self.augmented,
                      why="NaN is allowed on augmented rows only")
        self.timestamps = _time_values(_optional_column(timestamps, n, None, "timestamps"))
        _check_finite(self.timestamps, "timestamps")
        self.weights = _optional_column(weights, n, np.float32, "weights")
        _check_finite(self.weights, "weights")
        if self.weights is not None and (self.weights < 0).any():
            row = int(np.flatnonzero(self.weights < 0)[0])
            raise ValueError(f"weights must be >= 0; row {row} has {self.weights[row]}.")
        self.items = _aligned_side_table(items, self.item_ids, "items", "item_ids")
        self.users = _aligned_side_table(users, self.user_ids, "users", "user_ids")
        self._artifacts = MappingProxyType(self._checked_artifacts(artifacts or {}))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pandas(
        cls,
        interactions: pd.DataFrame,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        *,
        user_col: str = "user_id",
        item_col: str = "item_id",
        rating_col: str | None = None,
        time_col: str | None = None,
        weight_col: str | None = None,
        duplicates: str = "keep",
    ) -> InteractionData:
        """Build from a DataFrame of interactions and optional side tables.

        Parameters
        ----------
        interactions : pandas.DataFrame
            One row per interaction.
        items, users : pandas.DataFrame, optional
            Side tables indexed by item / user id (or with an ``item_col`` / ``user_col``
            column, which becomes the index). Ids that appear here but not in
            ``interactions`` are kept as cold items / users.
        user_col, item_col : str
            Columns holding the external ids. Ids may be of any hashable type; NaN is
            rejected.
        rating_col, time_col, weight_col : str, optional
            Columns holding ratings (numeric), timestamps (numeric or datetime) and
            per-row training weights (numeric).
        duplicates : {"keep", "sum", "last", "error"}, default="keep"
            What to do with repeated (user, item) pairs. ``"keep"`` keeps every row
            (repeat consumption is signal); ``"sum"`` merges them into one row whose
            rating and weight are summed and whose timestamp is the latest; ``"last"``
            keeps the latest row by time (file order without ``time_col``);
            ``"error"`` raises. Merging warns with the number of rows removed.

        Returns
        -------
        InteractionData

        Examples
        --------
        >>> import pandas as pd
        >>> from skllmers import InteractionData
        >>> df = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 10, 20]})
        >>> data = InteractionData.from_pandas(df, duplicates="keep")
        >>> len(data)
        3
        """
        if not isinstance(interactions, pd.DataFrame):
            raise TypeError(
                "interactions must be a pandas DataFrame with one row per interaction, "
                f"got {type(interactions).__name__}."
            )
        if duplicates not in _DUPLICATE_POLICIES:
            raise ValueError(
                f"duplicates={duplicates!r} is not a policy; use one of {_DUPLICATE_POLICIES}."
            )
        if len(interactions) == 0:
            raise ValueError("interactions is empty: there must be at least one row.")
        _require_columns(interactions, [user_col, item_col, rating_col, time_col, weight_col])
        for col in (user_col, item_col):
            n_missing = int(interactions[col].isna().sum())
            if n_missing:
                raise ValueError(
                    f"Column {col!r} has {n_missing} missing (NaN/None) ids; drop or fill "
                    "those rows before building InteractionData."
                )
        items = _side_table(items, item_col, "items")
        users = _side_table(users, user_col, "users")

        user_ids, user_codes = _encode(interactions[user_col], users)
        item_ids, item_codes = _encode(interactions[item_col], items)
        ratings = _numeric_column(interactions, rating_col, np.float32)
        weights = _numeric_column(interactions, weight_col, np.float32)
        timestamps = _time_column(interactions, time_col)

        data = cls(
            user_codes,
            item_codes,
            user_ids=user_ids,
            item_ids=item_ids,
            ratings=ratings,
            timestamps=timestamps,
            weights=weights,
            items=items,
            users=users,
        )
        return data._resolve_duplicates(duplicates)

    def _resolve_duplicates(self, policy: str) -> InteractionData:
        if policy == "keep":
            return self
        key = self.user_codes.astype(np.int64) * self.n_items + self.item_codes
        order = np.lexsort((self._time_or_position(), key))
        sorted_key = key[order]
        is_last_of_group = np.append(sorted_key[1:] != sorted_key[:-1], True)
        n_removed = int(len(key) - is_last_of_group.sum())
        if n_removed == 0:
            return self
        if policy == "error":
            raise ValueError(
                f"{n_removed} rows repeat an earlier (user, item) pair; pass "
                "duplicates='keep', 'sum' or 'last' to say how to treat them."
            )
        keep = order[is_last_of_group]
        result = self.take(keep)
        if policy == "sum":
            group_starts = np.flatnonzero(np.insert(sorted_key[1:] != sorted_key[:-1], 0, True))
            result = result._with_columns(
                ratings=_group_sum(self.ratings, order, group_starts),
                weights=_group_sum(self.weights, order, group_starts),
            )
        warnings.warn(
            f"duplicates={policy!r} merged repeated (user, item) pairs: {n_removed} of "
            f"{len(key)} rows removed.",
            UserWarning,
            stacklevel=3,
        )
        return result

    # ------------------------------------------------------------------ sizes
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def shape(self) -> tuple[int]:
        return (len(self.user_codes),)

    def __len__(self) -> int:
        return len(self.user_codes)

    @property
    def artifacts(self) -> Mapping[str, Any]:
        """Read-only mapping of what enhancers attached (see the class Notes)."""
        return self._artifacts

    def __repr__(self) -> str:
        extras = [name for name in ("ratings", "timestamps", "weights", "augmented")
                  if getattr(self, name) is not None]
        if self.items is not None:
            extras.append("items table")
        if self.users is not None:
            extras.append("users table")
        extras += [f"artifact {k!r}" for k in self._artifacts]
        tail = f"; {', '.join(extras)}" if extras else ""
        return (f"InteractionData({len(self)} rows, {self.n_users} users, "
                f"{self.n_items} items{tail})")

    # ------------------------------------------------------------------ row selection
    def take(self, indices, axis: int = 0) -> InteractionData:
        """Rows at ``indices`` (positions or a boolean mask), sharing maps and artifacts.

        This is the method scikit-learn's ``_safe_indexing`` calls, so cross-validation
        splits an ``InteractionData`` without an adapter.

        Examples
        --------
        >>> import pandas as pd
        >>> from skllmers import InteractionData
        >>> data = InteractionData.from_pandas(
        ...     pd.DataFrame({"user_id": [1, 1, 2], "item_id": [7, 8, 7]}))
        >>> part = data.take([0, 2])
        >>> len(part), part.item_ids is data.item_ids
        (2, True)
        """
        if axis != 0:
            raise ValueError("InteractionData is one-dimensional: only axis=0 is supported.")
        rows = _as_row_index(indices, len(self))
        return self._with_columns(
            **{name: None if getattr(self, name) is None else getattr(self, name)[rows]
               for name in _ROW_COLUMNS}
        )

    @property
    def iloc(self) -> _ILocIndexer:
        """Positional row selection, ``data.iloc[rows]``, like pandas."""
        return _ILocIndexer(self)

    def __getitem__(self, rows) -> InteractionData:
        return self.take(rows)

    def _with_columns(self, **columns) -> InteractionData:
        values = {name: getattr(self, name) for name in _ROW_COLUMNS}
        values.update(columns)
        result = type(self)(
            values.pop("user_codes"),
            values.pop("item_codes"),
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            **values,
        )
        # aligned and checked already, against the same id maps
        result.items, result.users, result._artifacts = self.items, self.users, self._artifacts
        return result

    # ------------------------------------------------------------------ attaching
    def with_artifacts(self, **artifacts) -> InteractionData:
        """A new object with ``artifacts`` attached; ``self`` is unchanged.

        Each key and value is checked against the artifact contract
        (:data:`skllmers._artifacts.ARTIFACTS`; see the class Notes): an unknown key
        raises a ``ValueError`` naming the known keys, the step that writes each and the
        models that read each; a value that breaks its key's rule (e.g. feature rows
        other than ``n_items``, negatives with codes out of range) raises too.

        A key the data already carries is merged: ``"negatives"`` triples are appended
        after the existing ones; any other key raises, since one step's value would
        silently replace another's (drop it first with :meth:`without_artifacts` to
        replace it on purpose).

        Parameters
        ----------
        **artifacts
            Artifact values by key.

        Returns
        -------
        InteractionData

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from skllmers import InteractionData
        >>> data = InteractionData.from_pandas(
        ...     pd.DataFrame({"user_id": [1, 2], "item_id": [7, 8]}))
        >>> enriched = data.with_artifacts(item_features=np.ones((2, 3)))
        >>> sorted(enriched.artifacts), sorted(data.artifacts)
        (['item_features'], [])
        >>> enriched.artifacts["item_features"].dtype
        dtype('float32')
        >>> data.with_artifacts(item_feature=np.ones((2, 3)))
        Traceback (most recent call last):
        ...
        ValueError: Unknown artifact key 'item_feature' (did you mean 'item_features'?)...
        >>> more = data.with_artifacts(negatives=[[0, 0, 1]]).with_artifacts(
        ...     negatives=[[1, 1, 0]])
        >>> more.artifacts["negatives"].tolist()
        [[0, 0, 1], [1, 1, 0]]
        """
        merged = dict(self._artifacts)
        for key, value in self._checked_artifacts(artifacts).items():
            merged[key] = merge_artifact(key, merged[key], value) if key in merged else value
        result = self._with_columns()
        result._artifacts = MappingProxyType(merged)
        return result

    def _checked_artifacts(self, artifacts: Mapping[str, Any]) -> dict:
        if not isinstance(artifacts, Mapping):
            raise TypeError(f"artifacts must be a mapping of key to value, got "
                            f"{type(artifacts).__name__}.")
        return {key: check_artifact(key, value, n_users=self.n_users, n_items=self.n_items)
                for key, value in artifacts.items()}

    def without_artifacts(self, *names: str) -> InteractionData:
        """A new object without the named artifacts; ``self`` is unchanged."""
        result = self._with_columns()
        result._artifacts = MappingProxyType(
            {k: v for k, v in self._artifacts.items() if k not in names}
        )
        return result

    def with_weights(self, weights) -> InteractionData:
        """A new object whose rows carry training ``weights`` (one per row)."""
        return self._with_columns(weights=weights)

    def with_added_rows(
        self, user_codes, item_codes, *, weight: float | np.ndarray = 1.0, timestamps=None
    ) -> InteractionData:
        """Append rows flagged as augmented, with their own training weight.

        Parameters
        ----------
        user_codes, item_codes : array-like of int
            Codes of the new interactions (they must be known to the id maps).
        weight : float or array-like, default=1.0
            Training weight of the new rows. Existing rows keep their weight (1 when
            the data had none).
        timestamps : array-like, optional
            Times of the new rows. When the data has timestamps and none are given,
            new rows get the latest time in the data, so a time-ordered model sees them
            as recent and a temporal split never puts them in the past of a test row.

        Examples
        --------
        >>> import pandas as pd
        >>> from skllmers import InteractionData
        >>> data = InteractionData.from_pandas(
        ...     pd.DataFrame({"user_id": [1, 2], "item_id": [7, 8]}))
        >>> more = data.with_added_rows([0], [1], weight=0.5)
        >>> more.augmented.tolist(), more.weights.tolist()
        ([False, False, True], [1.0, 1.0, 0.5])
        """
        user_codes = _as_codes(user_codes, self.n_users, "user_codes")
        item_codes = _as_codes(item_codes, self.n_items, "item_codes")
        m = len(user_codes)
        if len(item_codes) != m:
            raise ValueError("user_codes and item_codes of the added rows differ in length.")

        def extend(existing, added, fill):
            if existing is None and added is None:
                return None
            existing = np.full(len(self), fill) if existing is None else existing
            added = np.full(m, fill) if added is None else np.asarray(added)
            return np.concatenate([existing, np.broadcast_to(added, (m,))])

        new_time = None
        if self.timestamps is not None:
            new_time = (np.full(m, self.timestamps.max(), dtype=self.timestamps.dtype)
                        if timestamps is None else np.asarray(timestamps))
        elif timestamps is not None:
            raise ValueError("The data has no timestamps, so the added rows cannot have any.")
        return self._with_columns(
            user_codes=np.concatenate([self.user_codes, user_codes]),
            item_codes=np.concatenate([self.item_codes, item_codes]),
            ratings=extend(self.ratings, None, np.nan) if self.ratings is not None else None,
            timestamps=None if new_time is None else np.concatenate([self.timestamps, new_time]),
            weights=extend(self.weights if self.weights is not None else np.ones(len(self)),
                           np.broadcast_to(np.asarray(weight, np.float32), (m,)), 1.0),
            augmented=np.concatenate([self.augmented_mask(), np.ones(m, bool)]),
        )

    # ------------------------------------------------------------------ views
    def augmented_mask(self) -> np.ndarray:
        """Boolean array, ``True`` for rows an enhancer added."""
        return np.zeros(len(self), bool) if self.augmented is None else self.augmented

    def row_weights(self) -> np.ndarray:
        """Training weight of each row (1.0 where none was set)."""
        return np.ones(len(self), np.float32) if self.weights is None else self.weights

    def to_pandas(self) -> pd.DataFrame:
        """The rows as a DataFrame of external ids (``user_id``, ``item_id``, ...).

        Examples
        --------
        >>> import pandas as pd
        >>> from skllmers import InteractionData
        >>> InteractionData.from_pandas(
        ...     pd.DataFrame({"user_id": [1], "item_id": ["x"]})).to_pandas()
           user_id item_id
        0        1       x
        """
        frame = {
            "user_id": self.user_ids.take(self.user_codes),
            "item_id": self.item_ids.take(self.item_codes),
        }
        for name, column in (("rating", self.ratings), ("timestamp", self.timestamps),
                             ("weight", self.weights), ("augmented", self.augmented)):
            if column is not None:
                frame[name] = column
        return pd.DataFrame(frame)

    def to_csr(self, values: str = "auto", *, include_augmented: bool = True) -> sp.csr_matrix:
        """The users x items matrix that implicit and LightFM take.

        Parameters
        ----------
        values : {"auto", "ones", "ratings", "weights"}, default="auto"
            Cell values: ratings when the data has them (``"auto"``), else ones;
            ``"weights"`` uses the row weights. Repeated pairs are summed.
        include_augmented : bool, default=True
            Whether rows flagged as augmented take part.

        Returns
        -------
        scipy.sparse.csr_matrix of shape (n_users, n_items), float32

        Examples
        --------
        >>> import pandas as pd
        >>> from skllmers import InteractionData
        >>> data = InteractionData.from_pandas(
        ...     pd.DataFrame({"user_id": [1, 1], "item_id": [7, 8]}))
        >>> data.to_csr().nnz
        2
        """
        if values == "auto":
            values = "ratings" if self.ratings is not None else "ones"
        if values == "ratings" and self.ratings is None:
            raise ValueError("values='ratings' but the data has no ratings; use 'ones'.")
        data = {
            "ones": lambda: np.ones(len(self), np.float32),
            "ratings": lambda: np.nan_to_num(self.ratings, nan=1.0),
            "weights": self.row_weights,
        }
        if values not in data:
            raise ValueError(f"values={values!r}; use 'auto', 'ones', 'ratings' or 'weights'.")
        rows = slice(None) if include_augmented else ~self.augmented_mask()
        matrix = sp.csr_matrix(
            (data[values]()[rows], (self.user_codes[rows], self.item_codes[rows])),
            shape=(self.n_users, self.n_items),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        return matrix

    def user_sequences(self, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Each user's items in time order, as CSR-style ``(indptr, item_codes)``.

        Ties in time are broken by a seeded random key, never by item id or file order
        (see :class:`~skllmers.model_selection.LeaveLastOut`). Without timestamps, file
        order is the time.

        Returns
        -------
        indptr : ndarray of shape (n_users + 1,)
            User ``u``'s items are ``item_codes[indptr[u]:indptr[u + 1]]``.
        item_codes : ndarray of shape (n_rows,)

        Examples
        --------
        >>> import pandas as pd
        >>> from skllmers import InteractionData
        >>> data = InteractionData.from_pandas(pd.DataFrame(
        ...     {"user_id": [1, 1, 2], "item_id": [8, 7, 7], "t": [2, 1, 5]}), time_col="t")
        >>> indptr, items = data.user_sequences()
        >>> data.item_ids[items[indptr[0]:indptr[1]]].tolist()
        [7, 8]
        """
        order = self.time_order(random_state)
        counts = np.bincount(self.user_codes, minlength=self.n_users)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        return indptr, self.item_codes[order]

    def time_order(self, random_state=None) -> np.ndarray:
        """Row positions sorted by (user, time, seeded random tie-break)."""
        rng = np.random.default_rng(random_state)
        tie_break = rng.random(len(self))
        return _lexsort_user_time(self.user_codes, self._time_or_position(), tie_break)

    def _time_or_position(self) -> np.ndarray:
        return np.arange(len(self)) if self.timestamps is None else self.timestamps

    # ------------------------------------------------------------------ id lookups
    def encode_users(self, ids, *, unknown: str = "error") -> np.ndarray:
        """Codes of external user ``ids``; unknown ids raise, or map to -1."""
        return _lookup(self.user_ids, ids, unknown, "user")

    def encode_items(self, ids, *, unknown: str = "error") -> np.ndarray:
        """Codes of external item ``ids``; unknown ids raise, or map to -1."""
        return _lookup(self.item_ids, ids, unknown, "item")

    def item_text(self, columns=None, sep: str = ". ") -> pd.Series:
        """One text per item code, joined from the items table's text columns.

        Parameters
        ----------
        columns : list of str, optional
            Columns to join; by default every object/string column of ``items``.
        sep : str, default=". "
            Separator between columns. Missing values are skipped.

        Returns
        -------
        pandas.Series indexed by item id, in code order (empty strings where an item
        has no text).
        """
        if self.items is None:
            raise ValueError(
                "This InteractionData has no items table; pass items=... to "
                "InteractionData.from_pandas to give the items text."
            )
        table = self.items
        if columns is None:
            columns = [c for c in table.columns
                       if table[c].dtype == object or pd.api.types.is_string_dtype(table[c])]
        _require_columns(table, columns, where="the items table")
        parts = table[list(columns)].astype("string")
        text = parts.apply(lambda row: sep.join(v for v in row if isinstance(v, str) and v),
                           axis=1)
        return text.fillna("").astype(str)

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_artifacts"] = dict(self._artifacts)
        return state

    def __setstate__(self, state):
        state["_artifacts"] = MappingProxyType(state["_artifacts"])
        self.__dict__.update(state)


# ---------------------------------------------------------------------- helpers
def _as_id_index(ids, name: str) -> pd.Index:
    index = ids if isinstance(ids, pd.Index) else pd.Index(ids)
    if not index.is_unique:
        raise ValueError(f"{name} must be unique: each external id gets one code.")
    if index.hasnans:
        position = int(np.flatnonzero(index.isna())[0])
        raise ValueError(f"{name} has missing (NaN/None) ids, the first at code {position}; "
                         "every code needs a real id.")
    return index


def _as_codes(codes, size: int, name: str) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {codes.shape}.")
    if len(codes) and not np.issubdtype(codes.dtype, np.integer):
        raise TypeError(f"{name} must hold integer codes, got dtype {codes.dtype}.")
    if len(codes) and (codes.min() < 0 or codes.max() >= size):
        raise ValueError(f"{name} must lie in [0, {size}); found {codes.min()}..{codes.max()}.")
    return codes.astype(np.int32, copy=False)


def _optional_column(values, n: int, dtype, name: str):
    if values is None:
        return None
    try:
        values = np.asarray(values) if dtype is None else np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must hold {np.dtype(dtype).name} values, one per row; "
                        f"{error}.") from None
    if values.shape != (n,):
        raise ValueError(f"{name} must have one value per row ({n}), got shape {values.shape}.")
    return values


def _check_finite(values, name: str, *, nan_allowed=None, why: str = "") -> None:
    """Raise naming the first row of ``values`` that is NaN or infinite (where not allowed)."""
    if values is None or not np.issubdtype(values.dtype, np.floating):
        return
    bad = ~np.isfinite(values)
    if nan_allowed is not None:
        bad &= ~(np.isnan(values) & nan_allowed)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        note = f" ({why})" if why else ""
        raise ValueError(f"{name} must be finite{note}; {int(bad.sum())} values are not, the "
                         f"first in row {row}: {values[row]}.")


def _time_values(times):
    if times is None:
        return None
    if np.issubdtype(times.dtype, np.datetime64):
        if np.isnat(times).any():
            row = int(np.flatnonzero(np.isnat(times))[0])
            raise ValueError(f"timestamps must be finite; row {row} is NaT.")
        return times.astype("datetime64[ns]").astype(np.int64)
    if times.dtype == bool or not np.issubdtype(times.dtype, np.number):
        raise TypeError(f"timestamps must be numbers or datetimes, got dtype {times.dtype}.")
    return times


def _aligned_side_table(table, ids: pd.Index, name: str, ids_name: str):
    """``table`` with one row per code of ``ids``, in code order."""
    if table is None:
        return None
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame indexed by id, got "
                        f"{type(table).__name__}.")
    if table.index.equals(ids):
        return table
    if not table.index.is_unique:
        dupes = table.index[table.index.duplicated()].unique()[:5].tolist()
        raise ValueError(f"The {name} table repeats ids (e.g. {dupes}); keep one row per id.")
    extra = table.index.difference(ids, sort=False)
    if len(extra):
        raise ValueError(
            f"The {name} table has {len(extra)} ids that are not in {ids_name} (e.g. "
            f"{extra[:5].tolist()}). Drop those rows, or build the data with "
            f"InteractionData.from_pandas, which keeps them as cold {name}."
        )
    return table.reindex(ids)


def _as_row_index(indices, n: int) -> np.ndarray:
    if isinstance(indices, slice):
        return np.arange(n)[indices]
    rows = np.asarray(indices)
    if rows.dtype == bool:
        if rows.shape != (n,):
            raise IndexError(f"A boolean row mask must have {n} entries, got {rows.shape}.")
        return np.flatnonzero(rows)
    if rows.ndim == 0:
        rows = rows.reshape(1)
    if len(rows) == 0:
        return rows.astype(np.intp)
    if not np.issubdtype(rows.dtype, np.integer):
        raise IndexError(f"Rows must be selected by integer positions, got dtype {rows.dtype}.")
    return rows


def _require_columns(frame: pd.DataFrame, columns, where: str = "interactions") -> None:
    missing = [c for c in columns if c is not None and c not in frame.columns]
    if missing:
        raise KeyError(
            f"Column(s) {missing} not found in {where}; its columns are "
            f"{list(frame.columns)}. Pass the right names (e.g. user_col=..., item_col=...)."
        )


def _side_table(table, id_col: str, name: str):
    if table is None:
        return None
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(table).__name__}.")
    if id_col in table.columns:
        table = table.set_index(id_col)
    if table.index.hasnans:
        raise ValueError(f"The {name} table has missing (NaN/None) ids in its index; drop "
                         "those rows or give them ids.")
    if not table.index.is_unique:
        dupes = table.index[table.index.duplicated()].unique()[:5].tolist()
        raise ValueError(f"The {name} table repeats ids (e.g. {dupes}); keep one row per id.")
    return table


def _encode(column: pd.Series, side_table) -> tuple[pd.Index, np.ndarray]:
    try:
        codes, uniques = pd.factorize(column, sort=False)
    except TypeError as error:  # e.g. lists as ids
        raise TypeError(f"Column {column.name!r} holds ids that cannot be hashed ({error}); "
                        "ids must be hashable values such as ints, strings or tuples.") from None
    ids = pd.Index(uniques)
    if side_table is not None:
        cold = side_table.index.difference(ids, sort=False)
        if len(ids) and len(cold) == len(side_table) > 0:
            _warn_no_shared_id(column, ids, side_table.index)
        if len(cold):
            ids = ids.append(cold)
    return ids.rename(column.name), codes.astype(np.int32)


def _warn_no_shared_id(column: pd.Series, ids: pd.Index, table_ids: pd.Index) -> None:
    # A table matching no interaction is almost always a dtype mismatch (101 vs "101"):
    # every row would become a cold id and no interacted id would get side information.
    warnings.warn(
        f"The side table of {column.name!r} has no id in common with the interactions "
        f"(table ids such as {table_ids[0]!r} of dtype {table_ids.dtype}, interaction ids "
        f"such as {ids[0]!r} of dtype {ids.dtype}), so all {len(table_ids)} of its rows "
        "become cold ids and no interacted id gets side information. Convert one side's "
        "ids to the other's type if they are meant to match.",
        UserWarning, stacklevel=4,
    )


def _numeric_column(frame: pd.DataFrame, col, dtype):
    if col is None:
        return None
    values = frame[col]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        converted = pd.to_numeric(values, errors="coerce")
        bad = values[converted.isna() & values.notna()]
        if len(bad):
            raise ValueError(
                f"Column {col!r} must be numeric; {len(bad)} values are not "
                f"(e.g. {bad.iloc[0]!r})."
            )
        values = converted
    n_missing = int(values.isna().sum())
    if n_missing:
        raise ValueError(f"Column {col!r} has {n_missing} missing values (the first in row "
                         f"{_first_row(values.isna().to_numpy(), values.index)}); fill or drop "
                         "them.")
    array = values.to_numpy(dtype=dtype)
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        bad = ~np.isfinite(array)
        large = " or too large for float32" if array.dtype == np.float32 else ""
        raise ValueError(f"Column {col!r} has {int(bad.sum())} infinite values{large} (the "
                         f"first in row {_first_row(bad, values.index)}); fill or drop them.")
    return array


def _first_row(mask: np.ndarray, index: pd.Index) -> str:
    """``"<position>, index label <label>"`` of the first True of ``mask``."""
    position = int(np.flatnonzero(mask)[0])
    return f"{position}, index label {index[position]!r}"


def _time_column(frame: pd.DataFrame, col):
    if col is None:
        return None
    values = frame[col]
    datetimes = pd.api.types.is_datetime64_any_dtype(values)
    if datetimes or pd.api.types.is_timedelta64_dtype(values):
        if values.isna().any():
            raise ValueError(
                f"Column {col!r} has {int(values.isna().sum())} missing times (the first in "
                f"row {_first_row(values.isna().to_numpy(), values.index)}); fill or drop "
                "them.")
        unit = "datetime64[ns]" if datetimes else "timedelta64[ns]"
        return values.to_numpy(dtype=unit).astype(np.int64)  # nanoseconds
    return _numeric_column(frame, col, None)


def _group_sum(column, order, group_starts):
    if column is None:
        return None
    return np.add.reduceat(column[order].astype(np.float64), group_starts).astype(column.dtype)


def _lookup(index: pd.Index, ids, unknown: str, kind: str) -> np.ndarray:
    if unknown not in ("error", "ignore"):
        raise ValueError(f"unknown={unknown!r}; use 'error' or 'ignore' (maps to -1).")
    query = pd.Index(ids if hasattr(ids, "__len__") else list(ids))
    codes = index.get_indexer(query)
    if unknown == "error" and (codes < 0).any():
        missing = query[codes < 0].unique()[:5].tolist()
        raise KeyError(f"Unknown {kind} id(s) {missing}: they are not in the id map.")
    return codes.astype(np.int32)


def check_interaction_data(X, method: str = "fit") -> InteractionData:
    """Return ``X`` if it is a non-empty InteractionData, else raise a clear error."""
    if not isinstance(X, InteractionData):
        hint = (" Build one with InteractionData.from_pandas(df, user_col=..., item_col=...)."
                if isinstance(X, pd.DataFrame) else "")
        raise TypeError(
            f"{method}() expects an InteractionData, got {type(X).__name__}.{hint}"
        )
    if method == "fit" and len(X) == 0:
        raise ValueError("Cannot fit on an empty InteractionData (0 rows).")
    return X


def _lexsort_user_time(users: np.ndarray, times: np.ndarray, tie_break: np.ndarray):
    """``np.lexsort((tie_break, times, users))``, a few times faster on integer times.

    Users and times pack into one int64 key, whose stable argsort is fast on data that
    is mostly in order already; only the runs of equal keys are then ordered by
    ``tie_break``.
    """
    if len(users) == 0 or not np.issubdtype(times.dtype, np.integer):
        return np.lexsort((tie_break, times, users))
    low, span = int(times.min()), int(times.max()) - int(times.min()) + 1
    if span * (int(users.max()) + 1) >= 2**62:  # the key would overflow
        return np.lexsort((tie_break, times, users))
    key = users.astype(np.int64) * span + (times.astype(np.int64) - low)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    tied = np.zeros(len(key), dtype=bool)
    tied[1:] = sorted_key[1:] == sorted_key[:-1]
    tied[:-1] |= tied[1:]
    runs = np.flatnonzero(tied)
    order[runs] = order[runs][np.lexsort((tie_break[order[runs]], sorted_key[runs]))]
    return order
