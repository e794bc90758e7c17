"""LLMSummaryFeaturizer: LLM-written item and user summaries, encoded into dense features."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.utils import check_random_state
from sklearn.utils._set_output import ADAPTERS_MANAGER, _get_output_config
from sklearn.utils.validation import check_is_fitted, validate_data

from .._interaction_data import InteractionData, check_interaction_data
from ._common import (
    StageTimer,
    align_rows,
    check_encoder,
    check_int,
    check_llm,
    check_option,
    counter_delta,
    embed_texts,
    item_texts,
    item_titles,
    llm_counters,
    llm_generate,
    recent_histories,
)
from ._prompts import (
    DEFAULT_ITEM_TEMPLATE,
    DEFAULT_USER_TEMPLATE,
    USER_FIELDS,
    check_template,
    fill_template,
    format_history,
)

__all__ = ["LLMSummaryFeaturizer"]

_TARGETS = ("item", "user", "both")
_UNSEEN_ITEMS = ("encode", "zeros")
_UNSEEN_USERS = ("zeros", "mean")
_SUMMARY_COLUMNS = ["kind", "id", "prompt", "summary"]
_TABLE_SEP = ". "


class LLMSummaryFeaturizer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator,
                           auto_wrap_output_keys=None):
    """Dense features from LLM-written summaries of items and users (knowledge enhancement).

    In ``fit`` an LLM writes, for each item, factual knowledge drawn from its side-table
    text (ONCE, LAMAR, KAR) and, for each user, what they are interested in given the
    titles of their most recent training items (KAR, LANE, LLM-BRec). A text encoder
    turns the summaries into dense vectors, optionally reduced by PCA. ``transform``
    attaches them to an :class:`~skllmers.InteractionData` as the ``"item_features"``
    and ``"user_features"`` artifacts, which side-feature models (e.g. LightFM) read.
    The LLM is called in ``fit`` only: ``transform`` never calls it.

    It also works on a table of texts (a pandas Series or DataFrame, or an array of
    strings): ``fit_transform`` then returns one feature row per input row, so the
    featurizer drops into a :class:`~sklearn.compose.ColumnTransformer` in front of any
    scikit-learn model.

    Parameters
    ----------
    llm : object with ``generate(prompts) -> list of str``, default=None
        The LLM that writes the summaries, e.g. :class:`skllmers.llm.LlamaCppLLM`. Its
        cache makes a repeated fit free. ``None`` is the encoder-only mode: an item's
        "summary" is its raw side-table text, and a user's vector is the mean of the
        vectors of their recent items' texts (no LLM is loaded).
    encoder : object with ``embed(texts) -> array of shape (n, d)``, default=None
        Turns summaries into vectors. ``None`` means a new
        :class:`skllmers.llm.SentenceEncoder` (all-MiniLM-L6-v2), created in ``fit``.
        An LLM backend works too (its own embedding space).
    target : {"item", "user", "both"}, default="item"
        Which features to build. Tables of texts use the item prompt ("item" only).
    item_template : str, default=DEFAULT_ITEM_TEMPLATE
        :meth:`str.format` template of the item prompt. Fields: ``text`` (the item's
        text columns joined), ``item_id`` and every column of the items table by name
        (for a table of texts: ``text`` and the DataFrame's column names).
    user_template : str, default=DEFAULT_USER_TEMPLATE
        Template of the user prompt. Fields: ``history`` (one ``- title`` line per
        item, oldest first), ``n_items`` and ``user_id``.
    max_history : int, default=20
        Only a user's most recent ``max_history`` training items are shown, so the
        prompt fits the context.
    text_columns : list of str, default=None
        Columns of the items table joined into an item's ``text``; ``None`` uses every
        string column.
    title_col : str, default=None
        Column of the items table that names an item in a user's history; ``None`` uses
        ``"title"`` when present and the item id otherwise.
    n_components : int, default=None
        Reduce the encoded summaries to this many PCA components (fitted on item and
        user vectors together, so both live in one space). ``None`` keeps the encoder's
        width.
    unseen_items : {"encode", "zeros"}, default="encode"
        Features of items that had no summary at fit (new ids in ``transform``, or
        items whose text was empty): ``"encode"`` encodes their raw text with the
        fitted encoder (no LLM call; zeros when they have no text), ``"zeros"`` gives
        zero vectors.
    unseen_users : {"zeros", "mean"}, default="zeros"
        Features of users with no training row at fit: zero vectors, or the mean of
        the fitted user features.
    random_state : int, RandomState instance or None, default=None
        Breaks ties in time when picking a user's recent items, and seeds the PCA.
    verbose : bool, default=False
        Print what was sent to the LLM and how long it took.

    Attributes
    ----------
    item_ids_, user_ids_ : pandas.Index
        Ids of the items (users) that got a summary at fit: items with text, users with
        at least one real (not augmented) training row. Empty when not in ``target``.
    item_features_, user_features_ : ndarray of shape (``len(item_ids_)``, ``n_features_out_``)
        Their features, row ``i`` for id ``item_ids_[i]`` (float32).
    texts_ : pandas.Index
        For a table of texts: the distinct row texts seen at fit.
    text_features_ : ndarray of shape (``len(texts_)``, ``n_features_out_``)
        For a table of texts: the features of ``texts_``.
    summaries_ : pandas.DataFrame
        One row per summary: ``kind`` ("item", "user" or "text"), ``id``, ``prompt``
        (``None`` without an LLM) and ``summary`` (the text that was encoded; for
        users without an LLM, ``None``: their vector is a mean of item vectors).
    encoder_ : object
        The encoder used (it encodes unseen items in ``transform``).
    pca_ : sklearn.decomposition.PCA or None
        The fitted reduction, if ``n_components`` was set.
    n_features_out_ : int
        Width of the features.
    n_llm_prompts_ : int
        Distinct prompts sent to the LLM in the last fit (cached ones included).
    llm_time_ : float
        Seconds spent generating and encoding summaries in the last fit.
    llm_stats_ : dict
        What the LLM's counters grew by in the last fit, when it reports them
        (``stats()`` of the skllmers backends): ``requests``, ``cache_hits`` and
        ``calls`` (prompts that reached the model). Empty without an LLM.
    input_kind_ : {"interactions", "table"}
        What ``fit`` was given; ``transform`` expects the same.
    n_features_in_ : int
        For a table of texts: number of input columns.
    feature_names_in_ : ndarray of str
        For a DataFrame of texts with string column names: those names.

    See Also
    --------
    skllmers.interaction.LLMInteractionAugmenter : Adds LLM-chosen interactions.

    Notes
    -----
    User summaries are built from the rows given to ``fit`` only, so a test
    interaction never reaches a prompt when the featurizer sits in a Pipeline
    evaluated by cross-validation.

    ``transform`` aligns features to the id maps of *its* input by value, so the
    input may be a different :class:`~skllmers.InteractionData` than the one fitted.
    An existing ``"item_features"``/``"user_features"`` artifact is replaced.

    Examples
    --------
    Encoder-only mode on a table of texts (any object with ``embed`` is an encoder):

    >>> import numpy as np, pandas as pd
    >>> from skllmers.knowledge import LLMSummaryFeaturizer
    >>> class LetterCounts:
    ...     def embed(self, texts):
    ...         return np.array([[t.count(c) for c in "aeiou"] for t in texts], float)
    >>> texts = pd.Series(["space opera", "cooking show", "space opera"], name="plot")
    >>> featurizer = LLMSummaryFeaturizer(encoder=LetterCounts())
    >>> featurizer.fit_transform(texts)
    array([[2., 2., 0., 1., 0.],
           [0., 0., 1., 3., 0.],
           [2., 2., 0., 1., 0.]], dtype=float32)
    >>> featurizer.get_feature_names_out()[:2].tolist()
    ['llmsummaryfeaturizer0', 'llmsummaryfeaturizer1']

    With an LLM on interactions (a scripted stand-in here):

    >>> from skllmers import InteractionData
    >>> class Echo:
    ...     def generate(self, prompts):
    ...         return [p.splitlines()[1] for p in prompts]
    >>> items = pd.DataFrame({"title": ["Alien", "Heat"]}, index=["a", "h"])
    >>> data = InteractionData.from_pandas(
    ...     pd.DataFrame({"user_id": [1, 2], "item_id": ["a", "h"]}), items)
    >>> featurizer = LLMSummaryFeaturizer(Echo(), LetterCounts(), target="both")
    >>> enriched = featurizer.fit_transform(data)
    >>> enriched.artifacts["item_features"].shape, enriched.artifacts["user_features"].shape
    ((2, 5), (2, 5))
    >>> featurizer.summaries_[["kind", "id", "summary"]]
       kind id  summary
    0  item  a    Alien
    1  item  h     Heat
    2  user  1  - Alien
    3  user  2   - Heat
    """

    def __init__(
        self,
        llm=None,
        encoder=None,
        *,
        target="item",
        item_template=DEFAULT_ITEM_TEMPLATE,
        user_template=DEFAULT_USER_TEMPLATE,
        max_history=20,
        text_columns=None,
        title_col=None,
        n_components=None,
        unseen_items="encode",
        unseen_users="zeros",
        random_state=None,
        verbose=False,
    ):
        self.llm = llm
        self.encoder = encoder
        self.target = target
        self.item_template = item_template
        self.user_template = user_template
        self.max_history = max_history
        self.text_columns = text_columns
        self.title_col = title_col
        self.n_components = n_components
        self.unseen_items = unseen_items
        self.unseen_users = unseen_users
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Generate and encode the summaries.

        Parameters
        ----------
        X : InteractionData, pandas Series or DataFrame, or array-like of str
            Training interactions with an items table, or a table of texts.
        y : None
            Ignored.

        Returns
        -------
        self : LLMSummaryFeaturizer
            The fitted featurizer.
        """
        self._check_params()
        self._forget_fit()
        self.encoder_ = check_encoder(self.encoder)
        llm = None if self.llm is None else check_llm(self.llm, ["generate"])
        timer = StageTimer()
        before = {} if llm is None else llm_counters(llm)
        if isinstance(X, InteractionData):
            self._fit_interactions(check_interaction_data(X, "fit"), llm, timer)
        else:
            self._fit_table(X, llm, timer)
        self.llm_time_ = timer.seconds
        self.llm_stats_ = {} if llm is None else counter_delta(before, llm_counters(llm))
        if self.verbose:
            counts = self.summaries_["kind"].value_counts().to_dict()
            print(f"[{type(self).__name__}] summaries {counts}; {self.n_llm_prompts_} "
                  f"LLM prompts; {self.llm_time_:.1f} s generating and encoding.")
        return self

    def _check_params(self):
        check_option(self.target, _TARGETS, "target")
        check_option(self.unseen_items, _UNSEEN_ITEMS, "unseen_items")
        check_option(self.unseen_users, _UNSEEN_USERS, "unseen_users")
        check_int(self.max_history, "max_history")
        check_int(self.n_components, "n_components", allow_none=True)

    def _forget_fit(self):
        for name in ("item_ids_", "item_features_", "user_ids_", "user_features_", "texts_",
                     "text_features_", "n_features_in_", "feature_names_in_"):
            self.__dict__.pop(name, None)

    def _fit_interactions(self, X, llm, timer):
        self.input_kind_ = "interactions"
        if llm is not None:  # fail on a bad template before any LLM call
            if self.target in ("item", "both"):
                self._checked_item_template(X)
            if self.target in ("user", "both"):
                check_template(self.user_template, USER_FIELDS, "user_template")
        parts, summaries = {}, []
        with timer:
            if self.target in ("item", "both"):
                ids, vectors, frame = self._item_summaries(X, llm)
                parts["item"] = (ids, vectors)
                summaries.append(frame)
            if self.target in ("user", "both"):
                ids, vectors, frame = self._user_summaries(X, llm)
                parts["user"] = (ids, vectors)
                summaries.append(frame)
        self.summaries_ = pd.concat(summaries, ignore_index=True)
        self.n_llm_prompts_ = int(self.summaries_["prompt"].dropna().nunique())
        reduced = self._fit_reduction([vectors for _, vectors in parts.values()])
        for (kind, (ids, _)), features in zip(parts.items(), reduced, strict=True):
            setattr(self, f"{kind}_ids_", ids)
            setattr(self, f"{kind}_features_", features)
        for kind in ("item", "user"):
            if kind not in parts:
                setattr(self, f"{kind}_ids_", pd.Index([]))
                setattr(self, f"{kind}_features_", np.zeros((0, self.n_features_out_), np.float32))

    def _item_summaries(self, X, llm):
        texts = item_texts(X, self.text_columns)
        codes = np.flatnonzero(texts != "")
        if len(codes) == 0:
            raise ValueError("No item has text: every text column of the items table is empty.")
        prompts = None
        summaries = texts[codes]
        if llm is not None:
            prompts = self._item_prompts(X, codes, texts)
            summaries = self._generate(llm, prompts, fallback=summaries, kind="item")
        vectors = embed_texts(self.encoder_, summaries)
        ids = X.item_ids[codes]
        return ids, vectors, _summary_frame("item", ids, prompts, summaries)

    def _checked_item_template(self, X):
        columns = [] if X.items is None else list(map(str, X.items.columns))
        return check_template(self.item_template, ["text", "item_id", *columns],
                              "item_template")

    def _item_prompts(self, X, codes, texts):
        template = self._checked_item_template(X)
        records = X.items.iloc[codes].to_dict("records")
        return [fill_template(template, {**{str(k): v for k, v in record.items()},
                                         "text": texts[code], "item_id": X.item_ids[code]})
                for code, record in zip(codes, records, strict=True)]

    def _user_summaries(self, X, llm):
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        histories = recent_histories(X, self.max_history, seed)
        codes = np.array([u for u, h in enumerate(histories) if len(h)], dtype=np.int64)
        ids = X.user_ids[codes]
        if llm is None:
            item_vectors = embed_texts(self.encoder_, item_texts(X, self.text_columns))
            vectors = np.stack([item_vectors[histories[u]].mean(axis=0) for u in codes])
            return ids, vectors, _summary_frame("user", ids, None, [None] * len(codes))
        template = check_template(self.user_template, USER_FIELDS, "user_template")
        titles = item_titles(X, self.title_col)
        prompts = [fill_template(template, {"history": format_history(titles[histories[u]]),
                                            "n_items": len(histories[u]),
                                            "user_id": X.user_ids[u]})
                   for u in codes]
        fallback = np.array([format_history(titles[histories[u]]) for u in codes], dtype=object)
        summaries = self._generate(llm, prompts, fallback=fallback, kind="user")
        vectors = embed_texts(self.encoder_, summaries)
        return ids, vectors, _summary_frame("user", ids, prompts, summaries)

    def _generate(self, llm, prompts, *, fallback, kind):
        answers = np.array([(a or "").strip() for a in llm_generate(llm, prompts)],
                           dtype=object)
        empty = answers == ""
        if empty.any():
            warnings.warn(
                f"The LLM call failed or gave an empty answer for {int(empty.sum())} of "
                f"{len(answers)} {kind} summaries; their "
                f"{'raw text' if kind == 'item' else 'history'} "
                "is encoded instead.",
                UserWarning,
                stacklevel=4,
            )
            answers[empty] = np.asarray(fallback, dtype=object)[empty]
        return answers.astype(str)

    def _fit_reduction(self, blocks):
        widths = {b.shape[1] for b in blocks}
        if widths == {0}:
            raise ValueError("Every summary is empty: there is nothing to encode.")
        if self.n_components is None:
            self.pca_ = None
            self.n_features_out_ = widths.pop()
            return blocks
        stacked = np.vstack(blocks)
        limit = min(stacked.shape)
        if self.n_components > limit:
            raise ValueError(
                f"n_components={self.n_components} exceeds min(n_summaries, width) = "
                f"{limit}; lower it or pass n_components=None."
            )
        self.pca_ = PCA(self.n_components, random_state=self.random_state).fit(stacked)
        self.n_features_out_ = self.n_components
        return [self._reduce(b) for b in blocks]

    def _reduce(self, vectors):
        if self.pca_ is None or len(vectors) == 0:
            return vectors.astype(np.float32, copy=False)
        return self.pca_.transform(vectors).astype(np.float32)

    @property
    def _n_features_out(self):
        return self.n_features_out_

    # ------------------------------------------------------------------ tables
    def _fit_table(self, X, llm, timer):
        if self.target != "item":
            raise ValueError(
                f"target={self.target!r}, but a table of texts has no users: use "
                "target='item' (each row is summarised with item_template)."
            )
        self.input_kind_ = "table"
        frame = self._validate_table(X, reset=True)
        texts = _row_texts(frame)
        distinct = pd.unique(texts[texts != ""])
        if len(distinct) == 0:
            raise ValueError("Every row of the table is empty: there is no text to encode.")
        first_row = {}
        for row, text in enumerate(texts):
            first_row.setdefault(text, row)
        first_rows = [first_row[text] for text in distinct]
        prompts, summaries = None, distinct.astype(str)
        with timer:
            if llm is not None:
                available = ["text", *map(str, frame.columns)]
                template = check_template(self.item_template, available, "item_template")
                prompts = [fill_template(template, {**{str(k): v for k, v in row.items()},
                                                    "text": text})
                           for text, row in zip(distinct, frame.iloc[first_rows]
                                                .to_dict("records"), strict=True)]
                summaries = self._generate(llm, prompts, fallback=summaries, kind="item")
            vectors = embed_texts(self.encoder_, summaries)
        self.texts_ = pd.Index(distinct)
        self.text_features_ = self._fit_reduction([vectors])[0]
        self.summaries_ = _summary_frame("text", self.texts_, prompts, summaries)
        self.n_llm_prompts_ = 0 if prompts is None else len(set(prompts))

    def _validate_table(self, X, *, reset):
        one_column = isinstance(X, pd.Series)
        if one_column:
            X = X.to_frame()
        elif not isinstance(X, pd.DataFrame):
            array = np.asarray(X, dtype=object) if isinstance(X, list) else X
            if getattr(array, "ndim", 2) == 1:
                one_column = True
                X = np.asarray(array, dtype=object).reshape(-1, 1)
        n_fitted = getattr(self, "n_features_in_", 1)
        if one_column and not reset and n_fitted != 1:
            raise ValueError(
                f"Got one column of texts, but this featurizer was fitted on {n_fitted} "
                f"columns. Reshape your data to shape (n_rows, {n_fitted})."
            )
        array = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False)
        columns = getattr(self, "feature_names_in_", None)
        if columns is None:
            columns = [f"x{i}" for i in range(array.shape[1])]
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(array, columns=list(columns), index=index)

    # ------------------------------------------------------------------ transform
    def transform(self, X):
        """Attach the features to interactions, or return the features of a table.

        Never calls the LLM. Unseen items and users are handled as ``unseen_items``
        and ``unseen_users`` say.

        Parameters
        ----------
        X : InteractionData, or a table of texts like the one fitted
            The data to featurize; its id maps may differ from the fitted ones.

        Returns
        -------
        InteractionData or ndarray of shape (n_rows, ``n_features_out_``)
            For interactions: a new object with the ``"item_features"`` (and/or
            ``"user_features"``) artifact, aligned to ``X``'s id maps. For a table: one
            float32 row per input row (a DataFrame with ``set_output(transform="pandas")``).
        """
        check_is_fitted(self)
        if isinstance(X, InteractionData):
            if self.input_kind_ != "interactions":
                raise TypeError("This featurizer was fitted on a table of texts; "
                                "transform() expects a table too, not an InteractionData.")
            return self._transform_interactions(check_interaction_data(X, "transform"))
        if self.input_kind_ != "table":
            raise TypeError(f"This featurizer was fitted on an InteractionData; transform() "
                            f"expects one too, got {type(X).__name__}.")
        return self._transform_table(X)

    def _transform_interactions(self, X):
        artifacts = {}
        if self.target in ("item", "both"):
            features, known = align_rows(self.item_ids_, X.item_ids, self.item_features_)
            if self.unseen_items == "encode" and not known.all() and X.items is not None:
                features[~known] = self._encode_raw(item_texts(X, self.text_columns)[~known])
            artifacts["item_features"] = features
        if self.target in ("user", "both"):
            features, known = align_rows(self.user_ids_, X.user_ids, self.user_features_)
            if self.unseen_users == "mean" and len(self.user_features_):
                features[~known] = self.user_features_.mean(axis=0)
            artifacts["user_features"] = features
        return X.with_artifacts(**artifacts)

    def _encode_raw(self, texts):
        vectors = embed_texts(self.encoder_, texts)
        if vectors.shape[1] == 0:
            return np.zeros((len(texts), self.n_features_out_), np.float32)
        has_text = np.asarray(texts) != ""
        out = np.zeros((len(texts), self.n_features_out_), np.float32)
        out[has_text] = self._reduce(vectors[has_text])
        return out

    def _transform_table(self, X):
        frame = self._validate_table(X, reset=False)
        texts = _row_texts(frame)
        features, known = align_rows(self.texts_, pd.Index(texts), self.text_features_)
        if self.unseen_items == "encode" and not known.all():
            features[~known] = self._encode_raw(texts[~known])
        return self._wrap_table_output(features, X)

    def _wrap_table_output(self, features, X):
        dense = _get_output_config("transform", self)["dense"]
        if dense == "default":
            return features
        return ADAPTERS_MANAGER.adapters[dense].create_container(
            features, X, columns=self.get_feature_names_out)

    def set_output(self, *, transform=None):
        """Set the container of a table's features: "default" (ndarray), "pandas", "polars".

        Only tables of texts are wrapped; an InteractionData stays an InteractionData.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"}, default=None
            ``None`` leaves the configuration unchanged.

        Returns
        -------
        self : LLMSummaryFeaturizer
            This featurizer.

        Examples
        --------
        >>> from skllmers.knowledge import LLMSummaryFeaturizer
        >>> LLMSummaryFeaturizer().set_output(transform="pandas").target
        'item'
        """
        if transform is not None:
            self._sklearn_output_config = {"transform": transform}
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True  # a missing text is skipped
        tags.transformer_tags.preserves_dtype = []  # features are always float32
        return tags


def _row_texts(frame: pd.DataFrame) -> np.ndarray:
    """Each row's non-missing values joined as text, like ``InteractionData.item_text``."""
    parts = frame.astype(object).where(frame.notna(), None).to_numpy(dtype=object)
    texts = [_TABLE_SEP.join(str(v).strip() for v in row if v is not None and str(v).strip())
             for row in parts]
    return np.asarray(texts, dtype=object).astype(str)


def _summary_frame(kind, ids, prompts, summaries) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame({
        "kind": [kind] * n,
        "id": list(ids),
        "prompt": [None] * n if prompts is None else list(prompts),
        "summary": list(summaries),
    }, columns=_SUMMARY_COLUMNS)
