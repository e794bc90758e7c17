"""LLMSummaryFeaturizer: LLM-written item and user summaries, encoded into dense features."""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.decomposition import PCA
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from .._interaction_data import InteractionData, check_interaction_data
from .._text import (
    UNSEEN_POLICIES,
    StageTimer,
    align_rows,
    check_encoder,
    check_llm,
    check_template,
    check_unseen,
    counter_delta,
    embed_texts,
    fill_template,
    format_history,
    item_texts,
    item_titles,
    llm_counters,
    llm_generate,
    recent_histories,
    user_texts,
)
from ..llm._precomputed import PrecomputedVectors, check_precomputed_use
from ._prompts import DEFAULT_ITEM_TEMPLATE, DEFAULT_USER_TEMPLATE, USER_FIELDS

__all__ = ["LLMSummaryFeaturizer"]

_SUMMARY_COLUMNS = ["kind", "id", "prompt", "summary"]
_TABLE_SEP = ". "
_SIDES = {"items": ("items",), "users": ("users",), "both": ("items", "users")}


def _fitted_on_a_table(estimator) -> bool:
    """Feature names (and so set_output) mean something for a table of texts only."""
    return getattr(estimator, "input_kind_", "table") == "table"


class LLMSummaryFeaturizer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Dense features from LLM-written summaries of items and users (knowledge enhancement).

    In ``fit`` an LLM writes, for each item, factual knowledge drawn from its side-table
    text and, for each user, what they are interested in given the titles of their most
    recent training items. A text encoder turns the summaries into dense vectors,
    optionally reduced by PCA. ``transform`` attaches them to an
    :class:`~skllmers.InteractionData` as the ``"item_features"`` and
    ``"user_features"`` artifacts, which side-feature models (e.g. LightFM) read. The
    LLM is called in ``fit`` only: ``transform`` never calls it.

    It also works on a table of texts (a pandas Series or DataFrame, or an array of
    strings): ``fit_transform`` then returns one feature row per input row, so the
    featurizer drops into a :class:`~sklearn.compose.ColumnTransformer` in front of any
    scikit-learn model (and there ``get_feature_names_out`` and ``set_output`` apply).

    What it takes from the papers, and where it simplifies: KAR [1]_ asks an LLM for
    *factual knowledge* about each item and for *reasoning knowledge* about each user's
    preferences, encodes both texts and feeds the vectors to any recommender; this is
    that pipeline, with one free-form prompt per side instead of KAR's factorization
    prompting over scenario factors, and an optional PCA instead of KAR's trained
    hybrid-expert adaptor (the downstream model learns the mapping). ONCE [2]_ (its
    GENRE part) likewise has an LLM rewrite item content and write user profiles as
    extra text; its fine-tuned open-source LLM encoder (DIRE) is not reproduced: any
    text encoder, or an LLM's own ``embed``, is used as is.

    Parameters
    ----------
    llm : object with ``generate(prompts) -> list of str``, default=None
        The LLM that writes the summaries, e.g. :class:`skllmers.llm.LlamaCppLLM`. Its
        cache makes a repeated fit free. ``None`` is the encoder-only mode: an item's
        "summary" is its raw side-table text, and a user's vector is the mean of the
        vectors of their recent items (no LLM is loaded).
    encoder : object with ``embed(texts)``, or PrecomputedVectors, default=None
        Turns summaries into vectors. ``None`` means a new
        :class:`skllmers.llm.SentenceEncoder` (all-MiniLM-L6-v2), created in ``fit``.
        An LLM backend works too (its own embedding space). A
        :class:`~skllmers.llm.PrecomputedVectors` replaces the item (and, if it has
        them, user) vectors by vectors looked up by id: no item summary is written.
    target : {"items", "users", "both"}, default="items"
        Which features to build. Tables of texts use the item prompt ("items" only).
    item_template : str, default=DEFAULT_ITEM_TEMPLATE
        :meth:`str.format` template of the item prompt. Fields: ``text`` (the item's
        text columns joined), ``item_id`` and every column of the items table by name
        (for a table of texts: ``text`` and the DataFrame's column names).
    user_template : str, default=DEFAULT_USER_TEMPLATE
        Template of the user prompt. Fields: ``history`` (the titles of the user's
        recent items, oldest first, joined by ``" | "``), ``n_items`` and ``user_id``.
    max_history : int, default=20
        A user is described by their ``max_history`` most recent training items (by
        time; ties broken by a key seeded with ``random_state``), so the prompt fits
        the context.
    text_columns : str or list of str, default=None
        Columns of the items table joined into an item's ``text``; ``None`` uses every
        string column.
    user_text_columns : str or list of str, default=None
        Columns of the users table holding a ready-made profile of the user (written
        by an LLM elsewhere, say). A user with such text gets it as their summary,
        encoded as is: no LLM call and no history for them. Users whose profile is
        empty are summarised from their history. ``None``: every user from history.
    title_col : str, default=None
        Column of the items table that names an item in a user's history; ``None`` uses
        ``"title"`` when present and the item id otherwise.
    n_components : int, default=None
        Reduce the encoded summaries to this many PCA components (fitted on item and
        user vectors together, so both live in one space). ``None`` keeps the encoder's
        width.
    unseen_items : {"encode", "zeros", "error"}, default="encode"
        Items of ``transform``'s data that were not in the fitted id map:
        ``"encode"`` encodes their raw text with the fitted encoder (no LLM call;
        zeros when they have no text; a lookup with PrecomputedVectors), ``"zeros"``
        gives zero vectors, ``"error"`` raises. For a table of texts, the same for
        texts not seen at fit.
    unseen_users : {"encode", "zeros", "error"}, default="zeros"
        Users of ``transform``'s data that were not in the fitted id map: ``"encode"``
        builds their vector as the encoder-only mode does, from their rows in that
        data (or their ``user_text_columns`` text), without an LLM call; ``"zeros"``
        gives zero vectors, ``"error"`` raises.
    random_state : int, RandomState instance or None, default=None
        Breaks ties in time when picking a user's recent items, and seeds the PCA.
    verbose : bool, default=False
        Print what was sent to the LLM and how long it took (the backends show their
        own progress bars).

    Attributes
    ----------
    item_ids_, user_ids_ : pandas.Index
        Id maps of the fit data (empty when the side is not in ``target``).
    item_features_, user_features_ : ndarray of shape (``len(item_ids_)``, ``n_features_out_``)
        Their features, row ``i`` for id ``item_ids_[i]`` (float32). Zero rows for items
        without text and users without a real training row or profile.
    texts_ : pandas.Index
        For a table of texts: the distinct row texts seen at fit.
    text_features_ : ndarray of shape (``len(texts_)``, ``n_features_out_``)
        For a table of texts: the features of ``texts_``.
    summaries_ : pandas.DataFrame
        One row per summary: ``kind`` ("item", "user" or "text"), ``id``, ``prompt``
        (``None`` where no LLM was asked) and ``summary`` (the text that was encoded;
        ``None`` where the vector is a mean of item vectors or was looked up).
    encoder_ : object
        The encoder used (it encodes unseen items in ``transform``).
    encoder_dim_ : int
        Width of the encoder's vectors, before any reduction.
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
    skllmers.llm.PrecomputedVectors : Vectors computed elsewhere, looked up by id.

    Notes
    -----
    User summaries are built from the rows given to ``fit`` only, so a test
    interaction never reaches a prompt when the featurizer sits in a Pipeline
    evaluated by cross-validation.

    ``transform`` aligns features to the id maps of *its* input by value, so the
    input may be a different :class:`~skllmers.InteractionData` than the one fitted.
    An existing ``"item_features"``/``"user_features"`` artifact is replaced.

    References
    ----------
    .. [1] Y. Xi et al., "Towards Open-World Recommendation with Knowledge Augmentation
       from Large Language Models" (KAR), RecSys 2024. arXiv:2306.10933.
    .. [2] Q. Liu et al., "ONCE: Boosting Content-based Recommendation with Both Open-
       and Closed-source Large Language Models", WSDM 2024.

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
    ...     pd.DataFrame({"user_id": [1, 2, 2], "item_id": ["a", "h", "a"]}), items)
    >>> featurizer = LLMSummaryFeaturizer(Echo(), LetterCounts(), target="both")
    >>> enriched = featurizer.fit_transform(data)
    >>> enriched.artifacts["item_features"].shape, enriched.artifacts["user_features"].shape
    ((2, 5), (2, 5))
    >>> featurizer.summaries_[["kind", "id", "summary"]]
       kind id       summary
    0  item  a         Alien
    1  item  h          Heat
    2  user  1         Alien
    3  user  2  Heat | Alien
    """

    _parameter_constraints: dict = {
        # llm is checked in fit by check_llm, whose error says where an encoder goes
        "llm": "no_validation",
        "encoder": [HasMethods(["embed"]), PrecomputedVectors, None],
        "target": [StrOptions(set(_SIDES))],
        "item_template": [str],
        "user_template": [str],
        "max_history": [Interval(Integral, 1, None, closed="left")],
        "text_columns": [str, "array-like", None],
        "user_text_columns": [str, "array-like", None],
        "title_col": [str, None],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "unseen_items": [StrOptions(set(UNSEEN_POLICIES))],
        "unseen_users": [StrOptions(set(UNSEEN_POLICIES))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        llm=None,
        encoder=None,
        *,
        target="items",
        item_template=DEFAULT_ITEM_TEMPLATE,
        user_template=DEFAULT_USER_TEMPLATE,
        max_history=20,
        text_columns=None,
        user_text_columns=None,
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
        self.user_text_columns = user_text_columns
        self.title_col = title_col
        self.n_components = n_components
        self.unseen_items = unseen_items
        self.unseen_users = unseen_users
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
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

    def _forget_fit(self):
        for name in ("item_ids_", "item_features_", "user_ids_", "user_features_", "texts_",
                     "text_features_", "n_features_in_", "feature_names_in_", "encoder_dim_"):
            self.__dict__.pop(name, None)

    @property
    def _precomputed(self):
        encoder = getattr(self, "encoder_", None)
        return encoder if isinstance(encoder, PrecomputedVectors) else None

    def _fit_interactions(self, X, llm, timer):
        self.input_kind_ = "interactions"
        sides = _SIDES[self.target]
        self._check_precomputed_fit(sides, llm)
        if llm is not None:  # fail on a bad template before any LLM call
            if "items" in sides and self._precomputed is None:
                self._checked_item_template(X)
            if "users" in sides:
                check_template(self.user_template, USER_FIELDS, "user_template")
        parts, summaries = {}, []
        with timer:
            if "items" in sides:
                parts["items"], frame = self._item_summaries(X, llm)
                summaries.append(frame)
            if "users" in sides:
                parts["users"], frame = self._user_summaries(X, llm)
                summaries.append(frame)
        self.summaries_ = pd.concat(summaries, ignore_index=True)
        self.n_llm_prompts_ = int(self.summaries_["prompt"].dropna().nunique())
        blocks = [vectors[has] for vectors, has in parts.values()]
        self.encoder_dim_ = blocks[0].shape[1]
        reduced = self._fit_reduction(blocks)
        for (side, (_, has)), block in zip(parts.items(), reduced, strict=True):
            features = np.zeros((len(has), self.n_features_out_), np.float32)
            features[has] = block
            self._set_side(side, X.item_ids if side == "items" else X.user_ids, features)
        for side in {"items", "users"} - set(parts):
            self._set_side(side, pd.Index([]), np.zeros((0, self.n_features_out_), np.float32))

    def _set_side(self, side, ids, features):
        setattr(self, f"{side[:-1]}_ids_", ids)
        setattr(self, f"{side[:-1]}_features_", features)

    def _check_precomputed_fit(self, sides, llm):
        check_precomputed_use(self.encoder_, sides, llm=llm,
                              user_text_columns=self.user_text_columns)

    # ------------------------------------------------------------------ items
    def _item_summaries(self, X, llm):
        """Item vectors (n_items, d), a mask of items that have one, and their summaries."""
        if self._precomputed is not None:
            vectors = self._precomputed.lookup("items", X.item_ids)
            has = np.ones(X.n_items, bool)
            return (vectors, has), _summary_frame("item", X.item_ids, None, [None] * X.n_items)
        texts = item_texts(X, self.text_columns)
        codes = np.flatnonzero(texts != "")
        if len(codes) == 0:
            raise ValueError("No item has text: every text column of the items table is empty.")
        prompts = None
        summaries = texts[codes]
        if llm is not None:
            prompts = self._item_prompts(X, codes, texts)
            summaries = self._generate(llm, prompts, fallback=summaries, kind="item")
        ids = X.item_ids[codes]
        encoded = embed_texts(self.encoder_, summaries, ids=ids, what="item summaries")
        vectors = np.zeros((X.n_items, encoded.shape[1]), np.float32)
        vectors[codes] = encoded
        has = np.zeros(X.n_items, bool)
        has[codes] = True
        return (vectors, has), _summary_frame("item", ids, prompts, summaries)

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

    def _raw_item_vectors(self, X, codes):
        """Encoder vectors of item ``codes`` of ``X`` (zero rows for items with no text)."""
        if self._precomputed is not None:
            return self._precomputed.lookup("items", X.item_ids[codes])
        texts = item_texts(X, self.text_columns)[codes]
        return embed_texts(self.encoder_, texts, ids=X.item_ids[codes], what="item texts",
                           width=getattr(self, "encoder_dim_", None))

    # ------------------------------------------------------------------ users
    def _user_summaries(self, X, llm):
        """User vectors (n_users, d), a mask of users that have one, and their summaries."""
        if self._precomputed is not None and self._precomputed.has("users"):
            vectors = self._precomputed.lookup("users", X.user_ids)
            has = np.ones(X.n_users, bool)
            return (vectors, has), _summary_frame("user", X.user_ids, None, [None] * X.n_users)
        histories = self._histories(X)
        profiles = self._profiles(X)
        has_profile = profiles != ""
        from_history = ~has_profile & np.array([len(h) > 0 for h in histories])
        prompts = np.full(X.n_users, None, dtype=object)
        summaries = np.where(has_profile, profiles, None).astype(object)
        if llm is not None and from_history.any():
            template = check_template(self.user_template, USER_FIELDS, "user_template")
            titles = item_titles(X, self.title_col)
            codes = np.flatnonzero(from_history)
            prompts[codes] = [fill_template(template, {
                "history": format_history(titles[histories[u]]),
                "n_items": len(histories[u]), "user_id": X.user_ids[u]}) for u in codes]
            fallback = [format_history(titles[histories[u]]) for u in codes]
            summaries[codes] = self._generate(llm, list(prompts[codes]), fallback=fallback,
                                              kind="user")
        has = has_profile | from_history
        if not has.any():
            raise ValueError("No user has a real training row or a profile text: there is "
                             "nothing to describe the users with.")
        codes = np.flatnonzero(has)
        encoded = np.array([s is not None for s in summaries[codes]], dtype=bool)
        pieces = {}
        if encoded.any():
            pieces["text"] = embed_texts(self.encoder_, summaries[codes[encoded]].astype(str),
                                         ids=X.user_ids[codes[encoded]], what="user summaries")
        if (~encoded).any():
            pieces["mean"] = self._mean_item_vectors(X, [histories[u] for u in codes[~encoded]])
        width = next(iter(pieces.values())).shape[1]
        vectors = np.zeros((X.n_users, width), np.float32)
        if "text" in pieces:
            vectors[codes[encoded]] = pieces["text"]
        if "mean" in pieces:
            vectors[codes[~encoded]] = pieces["mean"]
        frame = _summary_frame("user", X.user_ids[codes], list(prompts[codes]),
                               list(summaries[codes]))
        return (vectors, has), frame

    def _histories(self, X):
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return recent_histories(X, self.max_history, seed)

    def _profiles(self, X):
        if self.user_text_columns is None:
            return np.full(X.n_users, "", dtype=object).astype(str)
        return user_texts(X, self.user_text_columns)

    def _mean_item_vectors(self, X, histories):
        """Each history's mean item vector (the encoder-only user vector)."""
        codes = np.unique(np.concatenate(histories)) if histories else np.zeros(0, np.int64)
        raw = self._raw_item_vectors(X, codes)
        row_of = {code: row for row, code in enumerate(codes)}
        return np.stack([raw[[row_of[c] for c in h]].mean(axis=0) for h in histories]
                        ).astype(np.float32)

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

    # ------------------------------------------------------------------ reduction
    def _fit_reduction(self, blocks):
        if self.n_components is None:
            self.pca_ = None
            self.n_features_out_ = blocks[0].shape[1]
            return [b.astype(np.float32, copy=False) for b in blocks]
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
        if self.target != "items":
            raise ValueError(
                f"target={self.target!r}, but a table of texts has no users: use "
                "target='items' (each row is summarised with item_template)."
            )
        if self._precomputed is not None:
            raise TypeError("A table of texts has no ids to look PrecomputedVectors up by; "
                            "pass a text encoder, or fit on an InteractionData.")
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
            vectors = embed_texts(self.encoder_, summaries, what="text summaries")
        self.encoder_dim_ = vectors.shape[1]
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
        sides = _SIDES[self.target]
        if "items" in sides:
            features, known = align_rows(self.item_ids_, X.item_ids, self.item_features_)
            check_unseen(known, X.item_ids, self.unseen_items, "items")
            if self.unseen_items == "encode" and not known.all():
                features[~known] = self._encode_unseen_items(X, np.flatnonzero(~known))
            artifacts["item_features"] = features
        if "users" in sides:
            features, known = align_rows(self.user_ids_, X.user_ids, self.user_features_)
            check_unseen(known, X.user_ids, self.unseen_users, "users")
            if self.unseen_users == "encode" and not known.all():
                features[~known] = self._encode_unseen_users(X, np.flatnonzero(~known))
            artifacts["user_features"] = features
        return X.with_artifacts(**artifacts)

    def _encode_unseen_items(self, X, codes):
        if self._precomputed is None and X.items is None:
            return np.zeros((len(codes), self.n_features_out_), np.float32)
        raw = self._raw_item_vectors(X, codes)
        return self._reduce_nonzero(raw)

    def _encode_unseen_users(self, X, codes):
        """Vectors of new users from ``X`` as the encoder-only mode builds them."""
        out = np.zeros((len(codes), self.n_features_out_), np.float32)
        if self._precomputed is not None and self._precomputed.has("users"):
            return self._reduce_nonzero(self._precomputed.lookup("users", X.user_ids[codes]))
        profiles = self._profiles(X)[codes] if self.user_text_columns is not None and \
            X.users is not None else np.full(len(codes), "")
        has_profile = profiles != ""
        if has_profile.any():
            raw = embed_texts(self.encoder_, profiles[has_profile], what="user profiles",
                              ids=X.user_ids[codes[has_profile]], width=self.encoder_dim_)
            out[has_profile] = self._reduce_nonzero(raw)
        histories = self._histories(X)
        from_history = np.flatnonzero(~has_profile & np.array(
            [len(histories[u]) > 0 for u in codes], dtype=bool))
        if len(from_history):
            if self._precomputed is None and X.items is None:
                return out
            means = self._mean_item_vectors(X, [histories[codes[i]] for i in from_history])
            out[from_history] = self._reduce_nonzero(means)
        return out

    def _reduce_nonzero(self, raw):
        """Reduced rows of ``raw``; all-zero rows (nothing to say) stay zero."""
        out = np.zeros((len(raw), self.n_features_out_), np.float32)
        nonzero = np.any(raw != 0, axis=1)
        if nonzero.any():
            out[nonzero] = self._reduce(raw[nonzero])
        return out

    def _transform_table(self, X):
        frame = self._validate_table(X, reset=False)
        texts = _row_texts(frame)
        features, known = align_rows(self.texts_, pd.Index(texts), self.text_features_)
        if self.unseen_items == "error":
            check_unseen(known | (texts == ""), pd.Index(texts), "error", "items")
        if self.unseen_items == "encode" and not known.all():
            raw = embed_texts(self.encoder_, texts[~known], what="texts",
                              width=self.encoder_dim_)
            features[~known] = self._reduce_nonzero(raw)
        return features

    @available_if(_fitted_on_a_table)
    def get_feature_names_out(self, input_features=None):
        """Names of the features of a table of texts: ``llmsummaryfeaturizer0``, ...

        Only defined for a featurizer fitted on a table of texts (so ``set_output`` and
        :class:`~sklearn.compose.ColumnTransformer` name its columns); on interactions
        the features are artifacts, not columns.

        Parameters
        ----------
        input_features : None
            Ignored; the features come from text.

        Returns
        -------
        ndarray of str, shape (``n_features_out_``,)

        Examples
        --------
        >>> import pandas as pd
        >>> from skllmers.knowledge import LLMSummaryFeaturizer
        >>> from skllmers.llm.testing import HashingEncoder
        >>> featurizer = LLMSummaryFeaturizer(encoder=HashingEncoder(2))
        >>> featurizer.set_output(transform="pandas").fit_transform(
        ...     pd.Series(["a b", "c"])).columns.tolist()
        ['llmsummaryfeaturizer0', 'llmsummaryfeaturizer1']
        """
        return ClassNamePrefixFeaturesOutMixin.get_feature_names_out(self, input_features)

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
