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
from ._text import align_rows, check_encoder, embed_texts, item_texts, user_history_texts

__all__ = ["GuidanceRegularizer"]

ITEM_PROMPT = (
    "Describe in two sentences what kind of person would enjoy this item and why.\n"
    "Item: {text}\nProfile:"
)
USER_PROMPT = (
    "A user recently interacted with these items, most recent first:\n{history}\n"
    "Describe the user's tastes in two sentences.\nProfile:"
)


class GuidanceRegularizer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Guide a recommender's training toward LLM-side profiles of users and items.

    At ``fit``, builds a text profile of every item (its text, or an LLM's description
    of it) and of every user (the text of the user's latest *training* items, or an
    LLM's summary of them), embeds the profiles with ``encoder``, and ``transform``
    attaches them as a :class:`~skllmers.GuidanceTargets` artifact (key
    ``"guidance"``). A recommender that reads it adds an alignment loss, weighted by
    ``weight``, between its own user/item embeddings and the targets (RLMRec):
    ``kind="contrastive"`` is RLMRec-Con (InfoNCE against an MLP projection of the
    targets), ``kind="generative"`` RLMRec-Gen (reconstruct the targets from masked
    embeddings), ``kind="distillation"`` a retrieval self-distillation after LLM-ESR
    (pull each user or item toward the mean embedding of the ``n_neighbors`` users or
    items most similar to it in LLM space; useful for long-tail users). Serving never
    calls the encoder or the LLM.

    ``weight=0`` trains exactly the unguided model, so a grid over ``weight`` that
    includes 0 includes the baseline.

    Models that read the artifact: ``BPRRecommender``, ``LightGCNRecommender`` and
    ``SASRecRecommender``; other recommenders raise a clear error when they receive it.

    Parameters
    ----------
    encoder : object with ``embed(texts)``, default=None
        Embeds the profiles; ``None`` uses :class:`~skllmers.llm.SentenceEncoder`
        (all-MiniLM-L6-v2, offline). A nested parameter for ``GridSearchCV``.
    llm : object with ``generate(prompts)``, default=None
        When given, the profiles are written by this LLM from ``item_prompt`` and
        ``user_prompt`` (RLMRec's profile generation), then embedded by ``encoder``.
        ``None``: the profiles are the texts themselves.
    profiles : {"both", "users", "items"}, default="both"
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
    n_recent : int, default=20
        A user's profile is built from this many of the user's latest training items.
    text_columns : list of str, optional
        Columns of the items table that make an item's text; by default every string
        column.
    item_prompt, user_prompt : str
        Prompts for ``llm``; ``{text}`` is an item's text, ``{history}`` the user's
        latest item texts, most recent first.
    random_state : int, RandomState instance or None, default=None
        Breaks ties between interactions with the same timestamp.

    Attributes
    ----------
    item_targets_ : ndarray of shape (n_items, d) or None
        Embedded item profiles, one per item code of the fit data (zero rows: no text).
    user_targets_ : ndarray of shape (n_users, d) or None
        Embedded user profiles, one per user code of the fit data, from training rows
        only (augmented rows excluded); zero rows for users with no training row.
    item_ids_, user_ids_ : pandas.Index
        Id maps of the fit data; ``transform`` aligns ids by value. Ids not seen at
        ``fit`` get zero rows ("no target"), so ``transform`` never calls the encoder.

    See Also
    --------
    LLMEmbeddingInitializer : Start item embeddings from LLM text vectors.
    skllmers.GuidanceTargets : The artifact this transformer attaches.

    References
    ----------
    .. [1] X. Ren et al., "Representation Learning with Large Language Models for
       Recommendation" (RLMRec), WWW 2024.
    .. [2] X. Yang et al., "Large Language Model Empowered Embedding Generator for
       Sequential Recommendation" (DaRec), 2024.

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
    >>> guided = GuidanceRegularizer(WordCount(), weight=0.05).fit_transform(data)
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
    ...     GuidanceRegularizer(HashingEncoder(), weight=1e-2, temperature=0.2),
    ...     LightGCNRecommender(n_factors=16, epochs=2, random_state=0)).fit(signal)
    >>> pipe[-1].user_factors_.shape
    (30, 16)
    """

    _parameter_constraints: dict = {
        "encoder": [HasMethods(["embed"]), None],
        "llm": [HasMethods(["generate"]), None],
        "profiles": [StrOptions({"both", "users", "items"})],
        "weight": [Interval(Real, 0, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "kind": [StrOptions(set(GUIDANCE_KINDS))],
        "mask_ratio": [Interval(Real, 0, 1, closed="right")],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "n_recent": [Interval(Integral, 1, None, closed="left")],
        "text_columns": ["array-like", None],
        "item_prompt": [str],
        "user_prompt": [str],
        "random_state": ["random_state"],
    }

    def __init__(self, encoder=None, *, llm=None, profiles="both", weight=1e-2,
                 temperature=0.2, kind="contrastive", mask_ratio=0.1, n_neighbors=10,
                 n_recent=20, text_columns=None, item_prompt=ITEM_PROMPT,
                 user_prompt=USER_PROMPT, random_state=None):
        self.encoder = encoder
        self.llm = llm
        self.profiles = profiles
        self.weight = weight
        self.temperature = temperature
        self.kind = kind
        self.mask_ratio = mask_ratio
        self.n_neighbors = n_neighbors
        self.n_recent = n_recent
        self.text_columns = text_columns
        self.item_prompt = item_prompt
        self.user_prompt = user_prompt
        self.random_state = random_state

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
        >>> guide = GuidanceRegularizer(HashingEncoder(), profiles="users").fit(data)
        >>> guide.user_targets_.shape, guide.item_targets_ is None
        ((20, 64), True)
        """
        X = check_interaction_data(X, "fit")
        self._check_prompts()
        encoder = check_encoder(self.encoder)
        texts = item_texts(X, self.text_columns)
        self.item_targets_ = self.user_targets_ = None
        if self.profiles in ("both", "items"):
            self.item_targets_ = embed_texts(encoder, self._item_profiles(texts),
                                            "item profiles")
        if self.profiles in ("both", "users"):
            self.user_targets_ = embed_texts(encoder, self._user_profiles(X, texts),
                                            "user profiles")
        self.item_ids_ = X.item_ids
        self.user_ids_ = X.user_ids
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
        >>> guide = GuidanceRegularizer(HashingEncoder(), kind="generative").fit(data)
        >>> targets = guide.set_params(weight=0.0).transform(data).artifacts["guidance"]
        >>> targets.kind, targets.weight  # weight 0: the model trains unguided
        ('generative', 0.0)
        """
        check_is_fitted(self)
        X = check_interaction_data(X, "transform")
        targets = GuidanceTargets(
            item_targets=_aligned(self.item_targets_, self.item_ids_, X.item_ids),
            user_targets=_aligned(self.user_targets_, self.user_ids_, X.user_ids),
            weight=float(self.weight),
            temperature=float(self.temperature),
            kind=self.kind,
            mask_ratio=float(self.mask_ratio),
            n_neighbors=int(self.n_neighbors),
        )
        return X.with_artifacts(guidance=targets)

    # ------------------------------------------------------------------ profiles
    def _item_profiles(self, texts: np.ndarray) -> np.ndarray:
        if self.llm is None:
            return texts
        return self._generate(texts, [self.item_prompt.format(text=t) for t in texts])

    def _user_profiles(self, X, texts: np.ndarray) -> np.ndarray:
        histories = user_history_texts(X, texts, self.n_recent, self.random_state)
        if self.llm is None:
            return histories
        return self._generate(histories,
                              [self.user_prompt.format(history=h) for h in histories])

    def _generate(self, sources: np.ndarray, prompts: list) -> np.ndarray:
        """LLM answers to ``prompts`` where ``sources`` is non-empty, else empty text."""
        wanted = np.flatnonzero(sources != "")
        answers = list(self.llm.generate([prompts[i] for i in wanted]))
        if len(answers) != len(wanted):
            raise ValueError(
                f"{type(self.llm).__name__}.generate returned {len(answers)} answers for "
                f"{len(wanted)} prompts."
            )
        missing = sum(a is None for a in answers)
        if missing:
            warnings.warn(
                f"{type(self.llm).__name__}.generate gave no answer for {missing} of "
                f"{len(wanted)} profiles; those users or items get no guidance target.",
                UserWarning,
                stacklevel=4,
            )
        profiles = np.full(len(sources), "", dtype=object)
        profiles[wanted] = ["" if a is None else str(a).strip() for a in answers]
        return profiles.astype(str)

    def _check_prompts(self) -> None:
        if self.llm is None:
            return
        for name, field in (("item_prompt", "text"), ("user_prompt", "history")):
            template = getattr(self, name)
            try:
                template.format(**{field: ""})
            except (KeyError, IndexError, ValueError) as error:
                raise ValueError(
                    f"{name} must be a str.format template whose only field is "
                    f"{{{field}}}; formatting it failed ({type(error).__name__}: {error})."
                ) from error
            if "{" + field + "}" not in template:
                raise ValueError(f"{name} must contain {{{field}}}, where the text goes.")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        return tags


def _aligned(targets, fitted_ids, ids):
    if targets is None:
        return None
    return align_rows(fitted_ids, ids, targets)[0]
