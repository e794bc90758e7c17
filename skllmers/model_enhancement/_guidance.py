"""GuidanceRegularizer: align a model's embeddings with LLM-side user and item profiles."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._artifacts import GUIDANCE_KINDS, GuidanceTargets
from .._interaction_data import check_interaction_data
from .._text import (
    UNSEEN_POLICIES,
    StageTimer,
    align_rows,
    check_encoder,
    check_llm,
    check_template,
    check_unseen,
    counter_delta,
    fill_template,
    format_history,
    item_texts,
    item_titles,
    llm_counters,
    llm_generate,
)
from ..llm._precomputed import PrecomputedVectors, check_precomputed_use
from ._profiles import SIDES, UserSources, item_raw_vectors, precomputed, user_raw_vectors

__all__ = ["DEFAULT_ITEM_TEMPLATE", "DEFAULT_USER_TEMPLATE", "GuidanceRegularizer"]

DEFAULT_ITEM_TEMPLATE = (
    "Describe in two sentences what kind of person would enjoy this item and why.\n"
    "Item: {text}\nProfile:"
)
"""Item prompt of GuidanceRegularizer (RLMRec's item profile). Fields: ``text``,
``item_id`` and every column of the items table."""

DEFAULT_USER_TEMPLATE = (
    "A user interacted with these items, oldest first:\n{history}\n"
    "Describe the user's tastes in two sentences.\nProfile:"
)
"""User prompt of GuidanceRegularizer (RLMRec's user profile). Fields: ``history`` (the
titles of the user's recent items, oldest first, joined by ``" | "``), ``n_items`` and
``user_id``."""

_USER_FIELDS = ("history", "n_items", "user_id")


class GuidanceRegularizer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Guide a recommender's training toward LLM-side profiles of users and items.

    At ``fit``, builds a text profile of every item (its text, or an LLM's description
    of it) and of every user (the texts of the user's most recent *training* items,
    an LLM's summary of their titles, or a ready-made profile from the users table),
    embeds the profiles with ``encoder``, and ``transform`` attaches them as a
    :class:`~skllmers.GuidanceTargets` artifact (key ``"guidance"``). A recommender
    that reads it adds an alignment loss, weighted by ``weight``, between its own
    user/item embeddings and the targets. Serving never calls the encoder or the LLM
    for the fitted ids.

    ``weight=0`` trains exactly the unguided model, so a grid over ``weight`` that
    includes 0 includes the baseline.

    What it takes from the papers, and where it simplifies: RLMRec [1]_ has an LLM
    write a profile of each user and item, embeds the profiles, and aligns the
    recommender's representations with them, contrastively (RLMRec-Con: InfoNCE
    against an MLP projection of the targets, ``kind="contrastive"``) or
    generatively (RLMRec-Gen: reconstruct the targets from masked embeddings,
    ``kind="generative"``). RLMRec builds the profiles from reviews and item
    attributes with reasoning prompts; here the prompts see the item's text and the
    titles of the user's recent items, and without an LLM the texts themselves are the
    profiles. ``kind="distillation"`` is after LLM-ESR [2]_'s retrieval-augmented
    self-distillation (pull each user or item toward the mean embedding of its
    ``n_neighbors`` nearest neighbours in LLM space, for long-tail users); LLM-ESR
    retrieves similar users only and distils the sequence encoder's output, here both
    sides' embeddings are pulled. DaRec [3]_ argues that aligning the two spaces
    exactly is sub-optimal and aligns only disentangled shared components, by
    structure; that disentanglement is not implemented here (the MLP projection of
    RLMRec-Con is the only slack), so tune ``weight`` (0 included).

    Models that read the artifact: ``BPRRecommender``, ``LightGCNRecommender`` and
    ``SASRecRecommender``; other recommenders raise a clear error when they receive it.

    Parameters
    ----------
    llm : object with ``generate(prompts)``, default=None
        When given, the profiles are written by this LLM from ``item_template`` and
        ``user_template`` (RLMRec's profile generation), then embedded by ``encoder``.
        ``None``: the profiles are the texts themselves. An object without
        ``generate()`` here is an error that says to pass it as ``encoder=``.
    encoder : object with ``embed(texts)``, or PrecomputedVectors, default=None
        Embeds the profiles; ``None`` uses :class:`~skllmers.llm.SentenceEncoder`
        (all-MiniLM-L6-v2, offline). A nested parameter for ``GridSearchCV``. A
        :class:`~skllmers.llm.PrecomputedVectors` gives the targets by id instead
        (users without ``users=`` vectors get the mean of their history's items).
    target : {"items", "users", "both"}, default="both"
        Which side gets targets.
    weight : float, default=1e-2
        Weight of the alignment loss (RLMRec-Con used 1e-2 on LightGCN); 0 disables it.
    temperature : float, default=0.2
        InfoNCE temperature of ``kind="contrastive"``.
    kind : {"contrastive", "generative", "distillation"}, default="contrastive"
        RLMRec-Con, RLMRec-Gen, or LLM-ESR-style retrieval self-distillation.
    mask_ratio : float, default=0.1
        Share of embeddings masked per batch with ``kind="generative"``.
    n_neighbors : int, default=10
        Neighbours in LLM space (cosine of the profile embeddings) each user or item
        is pulled toward, with ``kind="distillation"``.
    max_history : int, default=20
        A user is described by their ``max_history`` most recent training items (by
        time; ties broken by a key seeded with ``random_state``).
    text_columns : str or list of str, optional
        Columns of the items table that make an item's text; by default every string
        column.
    user_text_columns : str or list of str, optional
        Columns of the users table holding a ready-made profile (written by an LLM
        elsewhere, say): such a user's target is that text, embedded, with no LLM call.
        Users without one are profiled from their history. ``None``: every user.
    title_col : str, default=None
        Column of the items table that names an item in the user prompt's history;
        ``None`` uses ``"title"`` when present and the item id otherwise.
    item_template : str, default=DEFAULT_ITEM_TEMPLATE
        :meth:`str.format` template of the item prompt. Fields: ``text``, ``item_id``
        and every column of the items table.
    user_template : str, default=DEFAULT_USER_TEMPLATE
        Template of the user prompt. Fields: ``history`` (titles, oldest first, joined
        by ``" | "``), ``n_items`` and ``user_id``.
    unseen_items : {"encode", "zeros", "error"}, default="encode"
        Items of ``transform``'s data not in the fit data's id map: ``"encode"`` embeds
        their text as the encoder-only profile (no LLM call; zeros without text),
        ``"zeros"`` gives zero rows ("no target"), ``"error"`` raises.
    unseen_users : {"encode", "zeros", "error"}, default="zeros"
        The same for users: ``"encode"`` embeds their history text (from
        ``transform``'s data) or profile, without an LLM call.
    random_state : int, RandomState instance or None, default=None
        Breaks ties between interactions with the same timestamp.
    verbose : bool, default=False
        Print what was sent to the LLM and embedded, and how long it took (the
        backends show their own progress bars).

    Attributes
    ----------
    item_targets_ : ndarray of shape (n_items, d) or None
        Embedded item profiles, one per item code of the fit data (zero rows: no text).
    user_targets_ : ndarray of shape (n_users, d) or None
        Embedded user profiles, one per user code of the fit data, from training rows
        only (augmented rows excluded); zero rows for users with no training row.
    item_ids_, user_ids_ : pandas.Index
        Id maps of the fit data; ``transform`` aligns ids by value.
    profiles_ : dict of ndarray
        The profile texts that were embedded, ``{"items": ..., "users": ...}`` (one per
        code; ``""`` where there was nothing to say or the vector was looked up).
    encoder_ : object
        The encoder used.
    n_llm_prompts_ : int
        Distinct prompts sent to the LLM in the last fit (cached ones included).
    llm_time_ : float
        Seconds spent generating and embedding profiles in the last fit.
    llm_stats_ : dict
        What the LLM's counters grew by in the last fit (``requests``, ``cache_hits``,
        ``calls``), when it reports them; empty without an LLM.

    See Also
    --------
    LLMEmbeddingInitializer : Start item embeddings from LLM text vectors.
    skllmers.GuidanceTargets : The artifact this transformer attaches.

    References
    ----------
    .. [1] X. Ren et al., "Representation Learning with Large Language Models for
       Recommendation" (RLMRec), WWW 2024.
    .. [2] Q. Liu et al., "LLM-ESR: Large Language Models Enhancement for Long-tailed
       Sequential Recommendation", NeurIPS 2024.
    .. [3] X. Yang et al., "DaRec: A Disentangled Alignment Framework for Large
       Language Model and Recommender System", arXiv:2408.08231, 2024.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.model_enhancement import GuidanceRegularizer
    >>> class WordCount:  # any object with embed(texts) -> (n, d) will do
    ...     def embed(self, texts):
    ...         words = ["space", "ship", "love", "heart"]
    ...         return np.array([[t.count(w) for w in words] for t in texts], float)
    >>> items = pd.DataFrame({"item_id": [1, 2, 3],
    ...                       "title": ["space ship", "love heart", "space love"]})
    >>> data = InteractionData.from_pandas(
    ...     pd.DataFrame({"user_id": [7, 7, 8], "item_id": [1, 2, 3]}), items=items)
    >>> guided = GuidanceRegularizer(encoder=WordCount(), weight=0.05).fit_transform(data)
    >>> targets = guided.artifacts["guidance"]
    >>> targets.weight, targets.item_targets.shape, targets.user_targets.shape
    (0.05, (3, 4), (2, 4))

    In a Pipeline, the recommender adds the alignment loss while it trains:

    >>> from sklearn.pipeline import make_pipeline
    >>> from skllmers.datasets import make_text_signal
    >>> from skllmers.llm.testing import HashingEncoder
    >>> from skllmers.recommenders import LightGCNRecommender
    >>> signal = make_text_signal(n_users=30, n_items=40, random_state=0)
    >>> pipe = make_pipeline(
    ...     GuidanceRegularizer(encoder=HashingEncoder(), weight=1e-2, temperature=0.2),
    ...     LightGCNRecommender(n_factors=16, epochs=2, random_state=0)).fit(signal)
    >>> pipe[-1].user_factors_.shape
    (30, 16)
    """

    _parameter_constraints: dict = {
        # llm is checked in fit by check_llm, whose error says where an encoder goes
        "llm": "no_validation",
        "encoder": [HasMethods(["embed"]), PrecomputedVectors, None],
        "target": [StrOptions(set(SIDES))],
        "weight": [Interval(Real, 0, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "kind": [StrOptions(set(GUIDANCE_KINDS))],
        "mask_ratio": [Interval(Real, 0, 1, closed="right")],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "max_history": [Interval(Integral, 1, None, closed="left")],
        "text_columns": [str, "array-like", None],
        "user_text_columns": [str, "array-like", None],
        "title_col": [str, None],
        "item_template": [str],
        "user_template": [str],
        "unseen_items": [StrOptions(set(UNSEEN_POLICIES))],
        "unseen_users": [StrOptions(set(UNSEEN_POLICIES))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, llm=None, encoder=None, *, target="both", weight=1e-2,
                 temperature=0.2, kind="contrastive", mask_ratio=0.1, n_neighbors=10,
                 max_history=20, text_columns=None, user_text_columns=None, title_col=None,
                 item_template=DEFAULT_ITEM_TEMPLATE, user_template=DEFAULT_USER_TEMPLATE,
                 unseen_items="encode", unseen_users="zeros", random_state=None,
                 verbose=False):
        self.llm = llm
        self.encoder = encoder
        self.target = target
        self.weight = weight
        self.temperature = temperature
        self.kind = kind
        self.mask_ratio = mask_ratio
        self.n_neighbors = n_neighbors
        self.max_history = max_history
        self.text_columns = text_columns
        self.user_text_columns = user_text_columns
        self.title_col = title_col
        self.item_template = item_template
        self.user_template = user_template
        self.unseen_items = unseen_items
        self.unseen_users = unseen_users
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build and embed the user and item profiles of ``X``.

        Parameters
        ----------
        X : InteractionData
            Training interactions with an items table. User profiles use these rows
            only, so no held-out interaction reaches a target.
        y : None
            Ignored.

        Returns
        -------
        self

        Examples
        --------
        >>> from skllmers.datasets import make_text_signal
        >>> from skllmers.llm.testing import HashingEncoder
        >>> from skllmers.model_enhancement import GuidanceRegularizer
        >>> data = make_text_signal(n_users=20, n_items=30, random_state=0)
        >>> guide = GuidanceRegularizer(encoder=HashingEncoder(), target="users").fit(data)
        >>> guide.user_targets_.shape, guide.item_targets_ is None
        ((20, 64), True)
        """
        X = check_interaction_data(X, "fit")
        llm = None if self.llm is None else check_llm(self.llm, ["generate"])
        self.encoder_ = check_encoder(self.encoder)
        sides = SIDES[self.target]
        check_precomputed_use(self.encoder_, sides, llm=llm,
                              user_text_columns=self.user_text_columns)
        if llm is not None:  # fail on a bad template before any LLM call
            self._checked_templates(X, sides)
        timer = StageTimer()
        before = {} if llm is None else llm_counters(llm)
        self.item_targets_ = self.user_targets_ = None
        self.profiles_, prompts = {}, []
        with timer:
            if "items" in sides:
                self.item_targets_ = self._item_targets(X, llm, prompts)
            if "users" in sides:
                self.user_targets_ = self._user_targets(X, llm, prompts)
        self.item_ids_ = X.item_ids
        self.user_ids_ = X.user_ids
        self.n_llm_prompts_ = len(set(prompts))
        self.llm_time_ = timer.seconds
        self.llm_stats_ = {} if llm is None else counter_delta(before, llm_counters(llm))
        if self.verbose:
            print(f"[{type(self).__name__}] targets for {list(sides)}; "
                  f"{self.n_llm_prompts_} LLM prompts; {self.llm_time_:.1f} s generating "
                  "and embedding.")
        return self

    def transform(self, X):
        """Attach the profile embeddings to ``X`` as ``artifacts["guidance"]``.

        Parameters
        ----------
        X : InteractionData
            Its ids are matched to the fit data's by value.

        Returns
        -------
        InteractionData
            A new object; ``X`` is unchanged.

        Examples
        --------
        >>> from skllmers.datasets import make_text_signal
        >>> from skllmers.llm.testing import HashingEncoder
        >>> from skllmers.model_enhancement import GuidanceRegularizer
        >>> data = make_text_signal(n_users=20, n_items=30, random_state=0)
        >>> guide = GuidanceRegularizer(encoder=HashingEncoder(), kind="generative").fit(data)
        >>> targets = guide.set_params(weight=0.0).transform(data).artifacts["guidance"]
        >>> targets.kind, targets.weight  # weight 0: the model trains unguided
        ('generative', 0.0)
        """
        check_is_fitted(self)
        X = check_interaction_data(X, "transform")
        targets = GuidanceTargets(
            item_targets=_aligned(self.item_targets_, self.item_ids_, X.item_ids,
                                  self.unseen_items, "items",
                                  lambda codes: self._unseen_item_targets(X, codes)),
            user_targets=_aligned(self.user_targets_, self.user_ids_, X.user_ids,
                                  self.unseen_users, "users",
                                  lambda codes: self._unseen_user_targets(X, codes)),
            weight=float(self.weight),
            temperature=float(self.temperature),
            kind=self.kind,
            mask_ratio=float(self.mask_ratio),
            n_neighbors=int(self.n_neighbors),
        )
        return X.with_artifacts(guidance=targets)

    # ------------------------------------------------------------------ profiles
    def _checked_templates(self, X, sides):
        if "items" in sides and precomputed(self.encoder_) is None:
            columns = [] if X.items is None else list(map(str, X.items.columns))
            check_template(self.item_template, ["text", "item_id", *columns], "item_template")
        if "users" in sides:
            check_template(self.user_template, _USER_FIELDS, "user_template")

    def _item_targets(self, X, llm, prompts):
        codes = np.arange(X.n_items)
        if precomputed(self.encoder_) is not None:
            self.profiles_["items"] = np.full(X.n_items, "", dtype=object).astype(str)
            return item_raw_vectors(X, codes, self.encoder_)[0]
        texts = item_texts(X, self.text_columns)
        profiles = texts
        if llm is not None:
            profiles = texts.astype(object)
            wanted = np.flatnonzero(texts != "")
            records = X.items.iloc[wanted].to_dict("records")
            asked = [fill_template(self.item_template, {
                **{str(k): v for k, v in record.items()},
                "text": texts[code], "item_id": X.item_ids[code]})
                for code, record in zip(wanted, records, strict=True)]
            prompts.extend(asked)
            profiles[wanted] = self._generate(llm, asked, fallback=texts[wanted],
                                              kind="item", source="raw text")
            profiles = profiles.astype(str)
        self.profiles_["items"] = profiles
        return item_raw_vectors(X, codes, self.encoder_, profiles)[0]

    def _user_targets(self, X, llm, prompts):
        codes = np.arange(X.n_users)
        sources = self._sources(X)
        texts = self._user_texts(X, codes, sources, llm, prompts)
        self.profiles_["users"] = texts
        return self._user_vectors(X, codes, sources, texts)

    def _sources(self, X, fitting=True):
        return UserSources(X, user_text_columns=self.user_text_columns,
                           max_history=self.max_history, random_state=self.random_state,
                           required=fitting)

    def _user_texts(self, X, codes, sources, llm, prompts):
        """Profile text of each of ``codes``: their profile, LLM summary or history text."""
        texts = sources.profiles[codes].astype(object)
        history = sources.from_history(codes)
        if not history.any() or precomputed(self.encoder_) is not None or X.items is None:
            return texts.astype(str)
        history_texts = sources.history_texts(codes[history], item_texts(X, self.text_columns))
        if llm is None:
            texts[history] = history_texts
            return texts.astype(str)
        titles = item_titles(X, self.title_col)
        asked = [fill_template(self.user_template, {
            "history": format_history(titles[sources.histories[u]]),
            "n_items": len(sources.histories[u]), "user_id": X.user_ids[u]})
            for u in codes[history]]
        prompts.extend(asked)
        texts[history] = self._generate(llm, asked, fallback=history_texts, kind="user",
                                        source="history text")
        return texts.astype(str)

    def _user_vectors(self, X, codes, sources, texts):
        width = None if self.item_targets_ is None else self.item_targets_.shape[1]
        raw, _ = user_raw_vectors(X, codes, self.encoder_, texts, sources,
                                  lambda items: item_raw_vectors(X, items, self.encoder_)[0],
                                  width=width)
        return raw

    def _generate(self, llm, prompts, *, fallback, kind, source):
        answers = np.array([(a or "").strip() for a in llm_generate(llm, prompts)],
                           dtype=object)
        empty = answers == ""
        if empty.any():
            warnings.warn(
                f"The LLM call failed or gave an empty answer for {int(empty.sum())} of "
                f"{len(answers)} {kind} profiles; their {source} is embedded instead.",
                UserWarning,
                stacklevel=4,
            )
            answers[empty] = np.asarray(fallback, dtype=object)[empty]
        return answers.astype(str)

    def _unseen_item_targets(self, X, codes):
        if precomputed(self.encoder_) is None and X.items is None:
            return np.zeros((len(codes), self.item_targets_.shape[1]), np.float32)
        return item_raw_vectors(X, codes, self.encoder_, width=self.item_targets_.shape[1],
                                text_columns=self.text_columns)[0]

    def _unseen_user_targets(self, X, codes):
        sources = self._sources(X, fitting=False)
        texts = self._user_texts(X, codes, sources, None, [])
        raw, _ = user_raw_vectors(X, codes, self.encoder_, texts, sources,
                                  lambda items: item_raw_vectors(X, items, self.encoder_)[0],
                                  width=self.user_targets_.shape[1])
        return raw

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        return tags


def _aligned(targets, fitted_ids, ids, policy, kind, encode):
    if targets is None:
        return None
    rows, known = align_rows(fitted_ids, ids, targets)
    check_unseen(known, ids, policy, kind)
    if policy == "encode" and not known.all():
        rows[~known] = encode(np.flatnonzero(~known))
    return rows
