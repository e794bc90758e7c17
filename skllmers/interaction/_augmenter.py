"""LLMInteractionAugmenter: training interactions added (or removed) while fitting."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted

from .._interaction_data import check_interaction_data
from .._text import counter_delta, llm_counters
from ._strategies import Denoise, EmbeddingNeighbors, _Run, _Strategy

__all__ = ["LLMInteractionAugmenter"]

_COUNTS = ("n_added", "n_negatives", "n_dropped", "n_downweighted", "n_scored")


class LLMInteractionAugmenter(TransformerMixin, BaseEstimator):
    """Resample the training interactions with an LLM: add liked items, drop noisy rows.

    A fit-only resampler in imbalanced-learn's sense: :meth:`fit_resample` returns
    the training interactions edited by ``strategy``, and :meth:`transform` returns
    any data unchanged, so held-out and served data are never edited. The strategies:

    - :class:`LLMSelect` (LLMRec): a retriever proposes unseen candidates, the LLM
      scores each one on its own and the best are added (optionally with LLMRec's
      (user, positive, negative) triples).
    - :class:`EmbeddingNeighbors` (LLM-InS's embedding filter, the default): the
      unseen items nearest to the user's recent items in the encoder's space are
      added; no LLM.
    - :class:`Denoise` (LLMHD): the real rows least consistent with the rest of the
      user's history are dropped or down-weighted.

    Added rows are flagged as augmented, carry the strategy's ``augmented_weight``,
    the user's own rating (``augmented_rating``) and a time just before the user's
    latest real row, so sequential models still serve from real history.

    Parameters
    ----------
    llm : object with ``score_options``, default=None
        The LLM (e.g. :class:`skllmers.llm.LlamaCppLLM`) that scores candidates
        (:class:`LLMSelect`) or rows (``Denoise(scorer="llm")``);
        ``score_options_many`` is used when present. The other strategies use none.
    encoder : object with ``embed(texts)``, default=None
        Embeds item texts for :class:`EmbeddingNeighbors` and
        ``Denoise(scorer="embedding")``. ``None`` means a new
        :class:`skllmers.llm.SentenceEncoder` (offline), created in ``fit``. An LLM
        backend works too (the LLM's own embedding space).
    strategy : LLMSelect, EmbeddingNeighbors or Denoise, default=None
        What to do; ``None`` means ``EmbeddingNeighbors()``, which fits with no LLM.
        Its parameters are reached as ``strategy__<name>`` (``GridSearchCV``).
    user_fraction : float in (0, 1], default=1.0
        Share of the users (with at least one real row) that are edited, drawn with
        ``random_state``.
    max_history : int, default=20
        A user's most recent real items shown in a prompt or averaged into a profile
        (oldest first).
    title_col : str, default=None
        Items-table column naming an item in prompts; ``None`` uses ``"title"``
        when present and the item id otherwise.
    text_columns : list of str, default=None
        Items-table columns joined into an item's embedded text; ``None`` uses every
        string column.
    random_state : int, RandomState instance or None, default=None
        Draws the users and orders equal times and equal scores.
    verbose : bool, default=False
        Show progress bars and print what was added or removed.

    Attributes
    ----------
    strategy_ : estimator
        The strategy that ran (a clone of ``strategy``).
    n_added_ : int
        Rows added.
    n_negatives_ : int
        (user, positive, negative) triples attached.
    n_dropped_, n_downweighted_ : int
        Rows removed / down-weighted by :class:`Denoise`.
    n_scored_ : int
        Candidates or rows that got a finite score.
    n_users_sampled_ : int
        Users drawn by ``user_fraction``.
    n_failed_ : int
        LLM calls the backend recorded as failed (``on_error="skip"``); they add
        nothing.
    edited_rows_ : pandas.DataFrame
        Every edit: ``user_id``, ``item_id``, ``role`` ("positive", "negative",
        "dropped" or "downweighted"), ``score`` (the LLM score of an
        :class:`LLMSelect` pick, the cosine of an :class:`EmbeddingNeighbors` pick,
        the plausibility of a denoised row) and ``retriever_rank`` (1-based position
        of an :class:`LLMSelect` pick in the retriever's list, else missing).
    retriever_ : object or None
        The retriever fitted on the training data (:class:`LLMSelect`).
    encoder_ : object or None
        The encoder used, if any.
    llm_time_ : float
        Seconds spent in LLM and encoder calls.
    llm_stats_ : dict
        What the LLM's ``stats()`` counters (``requests``, ``cache_hits``, ``calls``)
        grew by in the last fit; empty when the LLM reports none or was not used.

    See Also
    --------
    LLMSelect, EmbeddingNeighbors, Denoise : The strategies.
    skllmers.knowledge.LLMSummaryFeaturizer : Dense features from LLM summaries.

    Notes
    -----
    As for imbalanced-learn's samplers, resampling happens at fit time only: a
    skllmers ``Pipeline`` calls :meth:`fit_resample` while fitting and skips the
    step while predicting. Unlike imbalanced-learn's, :meth:`fit_resample` returns
    the edited :class:`~skllmers.InteractionData` alone (``y`` is always ``None``
    in skllmers). Inside a plain scikit-learn
    :class:`~sklearn.pipeline.Pipeline` the same contract holds through
    :meth:`fit_transform` (= ``fit_resample``) and :meth:`transform` (the identity),
    as for :class:`sklearn.preprocessing.TargetEncoder`: ``fit(X).transform(X)`` is
    not ``fit_transform(X)``.

    Prompts and profiles use real rows only: rows added by another step never reach
    them. The LLM is called while fitting only.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.interaction import LLMInteractionAugmenter, LLMSelect
    >>> from skllmers.llm.testing import ScriptedLLM
    >>> def likes_c(prompt, options):  # stands in for an LLM: "c", then "b", then "a"
    ...     return [{"c": 0.0, "b": -1.0, "a": -3.0}[option] for option in options]
    >>> rows = pd.DataFrame({"user_id": [1, 1, 2, 3], "item_id": ["a", "b", "a", "c"]})
    >>> data = InteractionData.from_pandas(rows)
    >>> augmenter = LLMInteractionAugmenter(
    ...     ScriptedLLM(scorer=likes_c),
    ...     strategy=LLMSelect(n_candidates=2, scoring="likelihood"), random_state=0)
    >>> augmented = augmenter.fit_resample(data)
    >>> len(data), len(augmented), augmenter.n_added_
    (4, 7, 3)
    >>> augmenter.edited_rows_[["user_id", "item_id", "role", "retriever_rank"]]
       user_id item_id      role  retriever_rank
    0        1       c  positive               1
    1        2       c  positive               2
    2        3       b  positive               2
    >>> augmenter.transform(data) is data
    True
    """

    _parameter_constraints: dict = {
        "llm": [HasMethods(["score_options"]), None],
        "encoder": [HasMethods(["embed"]), None],
        "strategy": "no_validation",  # checked in fit, with the names to use
        "user_fraction": [Interval(Real, 0, 1, closed="right")],
        "max_history": [Interval(Integral, 1, None, closed="left")],
        "title_col": [str, None],
        "text_columns": ["array-like", None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, llm=None, encoder=None, *, strategy=None, user_fraction=1.0,
                 max_history=20, title_col=None, text_columns=None, random_state=None,
                 verbose=False):
        self.llm = llm
        self.encoder = encoder
        self.strategy = strategy
        self.user_fraction = user_fraction
        self.max_history = max_history
        self.title_col = title_col
        self.text_columns = text_columns
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ API
    @_fit_context(prefer_skip_nested_validation=False)
    def fit_resample(self, X, y=None):
        """Return the training interactions edited by the strategy.

        Parameters
        ----------
        X : InteractionData
            Training interactions.
        y : None
            Ignored.

        Returns
        -------
        InteractionData
            ``X`` with the added rows flagged as augmented, or with the least
            plausible rows dropped or down-weighted.
        """
        strategy = self._check_strategy()
        X = check_interaction_data(X, "fit")
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        users = self._sample_users(X, rng)
        before = {} if self.llm is None else llm_counters(self.llm)
        run = _Run(X, users, llm=self.llm, encoder=self.encoder, max_history=self.max_history,
                   title_col=self.title_col, text_columns=self.text_columns, seed=seed,
                   verbose=bool(self.verbose))
        outcome = strategy._resample(run)
        self.strategy_ = strategy
        self.n_users_sampled_ = len(users)
        for name in _COUNTS:
            setattr(self, name + "_", int(outcome.counts.get(name, 0)))
        self.n_failed_ = int(run.n_failed)
        self.edited_rows_ = outcome.edits
        self.retriever_ = outcome.retriever
        self.encoder_ = run.encoder_
        self.llm_time_ = run.timer.seconds
        self.llm_stats_ = {} if self.llm is None else counter_delta(before,
                                                                   llm_counters(self.llm))
        if self.verbose:
            print(self._report())
        return outcome.data

    def fit_transform(self, X, y=None):
        """Same as :meth:`fit_resample` (for scikit-learn's Pipeline).

        Parameters
        ----------
        X : InteractionData
            Training interactions.
        y : None
            Ignored.

        Returns
        -------
        InteractionData
            The edited training interactions.
        """
        return self.fit_resample(X, y)

    def fit(self, X, y=None):
        """Do the work of :meth:`fit_resample` and keep only the fitted attributes.

        Parameters
        ----------
        X : InteractionData
            Training interactions.
        y : None
            Ignored.

        Returns
        -------
        self : LLMInteractionAugmenter
            The fitted augmenter.
        """
        self.fit_resample(X, y)
        return self

    def transform(self, X):
        """Return ``X`` unchanged: held-out interactions are never edited.

        Parameters
        ----------
        X : InteractionData
            Any interactions.

        Returns
        -------
        InteractionData
            ``X`` itself.
        """
        check_is_fitted(self)
        return check_interaction_data(X, "transform")

    # ------------------------------------------------------------------ helpers
    def _check_strategy(self):
        if self.strategy is None:
            return EmbeddingNeighbors()
        if not isinstance(self.strategy, _Strategy):
            hint = ""
            if isinstance(self.strategy, str):
                hint = (" The strategy is an object: strategy='llm_select' is now "
                        "LLMSelect(...), 'embedding' EmbeddingNeighbors(...), 'denoise' "
                        "Denoise(...), each with its own parameters.")
            raise TypeError(
                "strategy must be None, LLMSelect(...), EmbeddingNeighbors(...) or "
                f"Denoise(...) from skllmers.interaction; got {self.strategy!r}.{hint}"
            )
        strategy = clone(self.strategy)
        strategy._validate_params()
        return strategy

    def _sample_users(self, X, rng):
        active = np.unique(X.user_codes[~X.augmented_mask()])
        n = max(1, int(round(self.user_fraction * len(active))))
        if n >= len(active):
            return active
        return np.sort(rng.choice(active, size=n, replace=False))

    def _report(self):
        name = f"[{type(self).__name__}] {type(self.strategy_).__name__}"
        if isinstance(self.strategy_, Denoise):
            action = "dropped" if self.strategy_.action == "drop" else "down-weighted"
            return (f"{name}: scored {self.n_scored_} rows of {self.n_users_sampled_} "
                    f"users; {action} {self.n_dropped_ or self.n_downweighted_}; "
                    f"{self.n_failed_} failed LLM calls; {self.llm_time_:.1f} s.")
        served = self.edited_rows_.loc[self.edited_rows_["role"] == "positive", "user_id"]
        return (f"{name}: added {self.n_added_} rows for {served.nunique()} of "
                f"{self.n_users_sampled_} sampled users (the others had no candidate left), "
                f"{self.n_negatives_} negative triples, {self.n_failed_} failed LLM calls; "
                f"{self.llm_time_:.1f} s.")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.target_tags.required = False
        return tags
