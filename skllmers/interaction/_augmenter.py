"""LLMInteractionAugmenter: interactions added (or removed) by an LLM while fitting."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._interaction_data import check_interaction_data
from ..knowledge._common import (
    StageTimer,
    check_encoder,
    check_fraction,
    check_int,
    check_llm,
    check_option,
    counter_delta,
    embed_texts,
    item_texts,
    item_titles,
    llm_choose,
    llm_counters,
    llm_score,
    recent_histories,
    unit_rows,
)
from ..knowledge._prompts import check_template, fill_template, format_history
from ._prompts import (
    CHOICE_FIELDS,
    DEFAULT_DENOISE_TEMPLATE,
    DEFAULT_NEGATIVE_TEMPLATE,
    DEFAULT_SELECT_TEMPLATE,
    DENOISE_FIELDS,
    DENOISE_OPTIONS,
)
from ._retrievers import make_retriever

__all__ = ["LLMInteractionAugmenter"]

_STRATEGIES = ("llm_select", "embedding", "denoise")
_DENOISE_ACTIONS = ("drop", "downweight")
_DENOISE_SCORERS = ("embedding", "llm")
_MAX_TITLE_CHARS = 100
_ROW_COLUMNS = ["user_id", "item_id", "role", "score"]


class LLMInteractionAugmenter(TransformerMixin, BaseEstimator):
    """Add LLM-chosen interactions, or drop implausible ones, while fitting (interaction enhancement).

    ``fit_transform`` returns the training interactions edited by one strategy:

    - ``"llm_select"`` (LLMRec, LlamaRec, ONCE): for each sampled user a cheap
      retriever proposes ``n_candidates`` unseen items, and the LLM picks the one the
      user would like most (``llm.choose``, grammar-constrained, so the answer is
      always a catalogue item); this is repeated ``n_positive`` times without the
      items already picked. With ``sample_negatives=True`` it also picks the
      candidate they would like least, giving LLMRec's (user, positive, negative)
      triples, attached as the ``"negatives"`` artifact.
    - ``"embedding"`` (LLM-InS): the ``n_positive`` unseen items nearest to the mean
      of the user's recent items in the encoder's embedding space.
    - ``"denoise"`` (LLMHD): each real row of a sampled user is scored for how well it
      fits the rest of the user's history, and the least plausible
      ``denoise_fraction`` of the scored rows are dropped or down-weighted.

    Added rows are flagged as augmented and carry the training weight
    ``augmented_weight``, so a model can treat them apart. ``transform`` returns its
    input unchanged: augmenting is for training data only (see Notes).

    Parameters
    ----------
    llm : object, default=None
        The LLM (e.g. :class:`skllmers.llm.LlamaCppLLM`). ``"llm_select"`` needs
        ``choose`` (``choose_many`` is used when present), ``denoise_scorer="llm"``
        needs ``score_options``. ``"embedding"`` and the embedding scorer use no LLM.
    encoder : object with ``embed(texts)``, default=None
        Embeds item texts for ``"embedding"`` and the embedding denoise scorer.
        ``None`` means a new :class:`skllmers.llm.SentenceEncoder`, created in ``fit``.
        An LLM backend works too (LLM-InS's LLM embedding space).
    strategy : {"llm_select", "embedding", "denoise"}, default="llm_select"
        What to do (see above).
    retriever : {"popularity", "item_knn"} or fitted recommender, default="popularity"
        Proposes the candidates of ``"llm_select"``: the most popular unseen items,
        the unseen items that co-occur most with the user's items (cosine item-kNN),
        or the top of a fitted skllmers recommender's ``recommend``.
    n_candidates : int, default=20
        Candidates the LLM chooses from (cost: prompt length).
    n_positive : int, default=1
        Rows added per sampled user (LLM choices for ``"llm_select"``, nearest items
        for ``"embedding"``).
    sample_negatives : bool, default=False
        ``"llm_select"`` only: for each positive, also ask for the least liked
        remaining candidate and attach (user, positive, negative) code triples as the
        ``"negatives"`` artifact (appended to an existing one). Negatives are not rows.
    user_fraction : float in (0, 1], default=1.0
        Share of the users (with at least one real row) that are augmented or
        denoised, drawn with ``random_state``.
    augmented_weight : float, default=0.5
        Training weight of the added rows.
    max_history : int, default=20
        A user's most recent items shown in a prompt or averaged into a profile.
    select_template, negative_template : str
        Prompts of the positive and negative choices. Fields: ``history``,
        ``candidates``, ``n_items``, ``user_id`` (see ``skllmers.interaction._prompts``).
    denoise_fraction : float in (0, 1], default=0.1
        Share of the scored rows that are dropped or down-weighted.
    denoise_action : {"drop", "downweight"}, default="drop"
        Remove those rows, or multiply their weight by ``denoise_weight``.
    denoise_scorer : {"embedding", "llm"}, default="embedding"
        Plausibility of a row: cosine of the item's vector to the mean vector of the
        user's other items, or the LLM's log-odds of " yes" over " no" to
        ``denoise_template`` (one prompt per row).
    denoise_weight : float, default=0.2
        Weight factor of down-weighted rows.
    denoise_template : str
        Prompt of the LLM scorer. Fields: ``history``, ``item``, ``n_items``, ``user_id``.
    title_col : str, default=None
        Column of the items table naming an item in prompts; ``None`` uses ``"title"``
        when present and the item id otherwise.
    text_columns : list of str, default=None
        Columns of the items table that are embedded; ``None`` uses every string column.
    random_state : int, RandomState instance or None, default=None
        Draws the users and breaks ties in time.
    verbose : bool, default=False
        Show progress bars and print what was added or removed.

    Attributes
    ----------
    n_added_ : int
        Rows added by the last ``fit_transform``.
    n_negatives_ : int
        (user, positive, negative) triples attached.
    n_dropped_, n_downweighted_ : int
        Rows removed / down-weighted by ``"denoise"``.
    n_scored_ : int
        Rows that got a plausibility score (``"denoise"``).
    n_users_sampled_ : int
        Users drawn by ``user_fraction``.
    n_failed_ : int
        LLM calls the backend recorded as failed (``on_error="skip"``); they add
        nothing.
    edited_rows_ : pandas.DataFrame
        Every edit: ``user_id``, ``item_id``, ``role`` ("positive", "negative",
        "dropped" or "downweighted") and ``score`` (plausibility, for denoising).
    retriever_ : object
        The fitted retriever (``"llm_select"``).
    encoder_ : object
        The encoder used (``"embedding"`` and the embedding scorer).
    llm_time_ : float
        Seconds spent in LLM and encoder calls.
    llm_stats_ : dict
        What the LLM's ``stats()`` counters (``requests``, ``cache_hits``, ``calls``)
        grew by in the last fit; empty when the LLM reports none or was not used.

    See Also
    --------
    skllmers.knowledge.LLMSummaryFeaturizer : Dense features from LLM summaries.

    Notes
    -----
    As for :class:`sklearn.preprocessing.TargetEncoder`, ``fit(X).transform(X)`` is
    *not* ``fit_transform(X)``: ``fit_transform`` returns the edited training data,
    while ``transform`` returns any data unchanged, so held-out interactions are
    never augmented or denoised. scikit-learn's :class:`~sklearn.pipeline.Pipeline`
    calls ``fit_transform`` on this step while fitting and ``transform`` while
    predicting or scoring: exactly this contract. ``fit`` does the same work as
    ``fit_transform`` (including the LLM calls) and keeps only the attributes.

    Prompts and profiles use real rows only; rows added by another step never reach
    them. The LLM is called in ``fit_transform`` only.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.interaction import LLMInteractionAugmenter
    >>> class FirstOption:  # stands in for an LLM: always picks the first candidate
    ...     def choose(self, prompt, options):
    ...         return options[0]
    >>> rows = pd.DataFrame({"user_id": [1, 1, 2, 3], "item_id": ["a", "b", "a", "c"]})
    >>> data = InteractionData.from_pandas(rows)
    >>> augmenter = LLMInteractionAugmenter(FirstOption(), n_candidates=2)
    >>> augmented = augmenter.fit_transform(data)
    >>> len(data), len(augmented), augmenter.n_added_
    (4, 7, 3)
    >>> augmenter.edited_rows_[["user_id", "item_id", "role"]]
       user_id item_id      role
    0        1       c  positive
    1        2       b  positive
    2        3       a  positive
    >>> augmenter.transform(data) is data
    True
    """

    def __init__(
        self,
        llm=None,
        encoder=None,
        *,
        strategy="llm_select",
        retriever="popularity",
        n_candidates=20,
        n_positive=1,
        sample_negatives=False,
        user_fraction=1.0,
        augmented_weight=0.5,
        max_history=20,
        select_template=DEFAULT_SELECT_TEMPLATE,
        negative_template=DEFAULT_NEGATIVE_TEMPLATE,
        denoise_fraction=0.1,
        denoise_action="drop",
        denoise_scorer="embedding",
        denoise_weight=0.2,
        denoise_template=DEFAULT_DENOISE_TEMPLATE,
        title_col=None,
        text_columns=None,
        random_state=None,
        verbose=False,
    ):
        self.llm = llm
        self.encoder = encoder
        self.strategy = strategy
        self.retriever = retriever
        self.n_candidates = n_candidates
        self.n_positive = n_positive
        self.sample_negatives = sample_negatives
        self.user_fraction = user_fraction
        self.augmented_weight = augmented_weight
        self.max_history = max_history
        self.select_template = select_template
        self.negative_template = negative_template
        self.denoise_fraction = denoise_fraction
        self.denoise_action = denoise_action
        self.denoise_scorer = denoise_scorer
        self.denoise_weight = denoise_weight
        self.denoise_template = denoise_template
        self.title_col = title_col
        self.text_columns = text_columns
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ API
    def fit(self, X, y=None):
        """Do the work of :meth:`fit_transform` and keep only the fitted attributes.

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
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        """Return the training interactions with LLM-chosen rows added (or noisy ones removed).

        Parameters
        ----------
        X : InteractionData
            Training interactions.
        y : None
            Ignored.

        Returns
        -------
        InteractionData
            ``X`` with the added rows flagged as augmented (weight
            ``augmented_weight``), or with the least plausible rows dropped or
            down-weighted.
        """
        self._check_params()
        X = check_interaction_data(X, "fit")
        rng = check_random_state(self.random_state)
        tie_seed = int(rng.randint(np.iinfo(np.int32).max))
        users = self._sample_users(X, rng)
        self.n_users_sampled_ = len(users)
        self.n_added_ = self.n_negatives_ = self.n_dropped_ = self.n_downweighted_ = 0
        self.n_scored_ = self.n_failed_ = 0
        llm = self._llm_for_strategy()
        before = {} if llm is None else llm_counters(llm)
        timer = StageTimer()
        if self.strategy == "llm_select":
            result, edits = self._llm_select(X, users, llm, tie_seed, timer)
        elif self.strategy == "embedding":
            result, edits = self._nearest_items(X, users, tie_seed, timer)
        else:
            result, edits = self._denoise(X, users, llm, tie_seed, timer)
        self.edited_rows_ = edits
        self.llm_time_ = timer.seconds
        self.llm_stats_ = {} if llm is None else counter_delta(before, llm_counters(llm))
        if self.verbose:
            print(self._report())
        return result

    def transform(self, X):
        """Return ``X`` unchanged: held-out interactions are never augmented.

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

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        check_option(self.strategy, _STRATEGIES, "strategy")
        check_option(self.denoise_action, _DENOISE_ACTIONS, "denoise_action")
        check_option(self.denoise_scorer, _DENOISE_SCORERS, "denoise_scorer")
        check_int(self.n_candidates, "n_candidates", minimum=2 if self.sample_negatives else 1)
        check_int(self.n_positive, "n_positive")
        check_int(self.max_history, "max_history")
        check_fraction(self.user_fraction, "user_fraction")
        check_fraction(self.denoise_fraction, "denoise_fraction")
        for name in ("augmented_weight", "denoise_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                    or not value > 0 or not np.isfinite(value):
                raise ValueError(f"{name} must be a positive number, got {value!r}.")
        if not isinstance(self.sample_negatives, (bool, np.bool_)):
            raise ValueError(f"sample_negatives must be True or False, got "
                             f"{self.sample_negatives!r}.")

    def _llm_for_strategy(self):
        needs = {"llm_select": ["choose"]}
        if self.strategy == "denoise" and self.denoise_scorer == "llm":
            needs["denoise"] = ["score_options"]
        methods = needs.get(self.strategy)
        if methods is None:
            return None
        if self.llm is None:
            raise ValueError(
                f"strategy={self.strategy!r} with these settings needs an llm "
                f"(with {methods[0]}()); pass llm=..., or use strategy='embedding' / "
                "denoise_scorer='embedding', which need only the encoder."
            )
        return check_llm(self.llm, methods)

    def _sample_users(self, X, rng):
        active = np.unique(X.user_codes[~X.augmented_mask()])
        n = max(1, int(round(self.user_fraction * len(active))))
        if n >= len(active):
            return active
        return np.sort(rng.choice(active, size=n, replace=False))

    def _report(self):
        name = type(self).__name__
        if self.strategy == "denoise":
            action = ("dropped" if self.denoise_action == "drop" else "down-weighted")
            n = self.n_dropped_ or self.n_downweighted_
            return (f"[{name}] denoise: scored {self.n_scored_} rows of "
                    f"{self.n_users_sampled_} users; {action} {n}; {self.llm_time_:.1f} s.")
        served = self.edited_rows_.loc[self.edited_rows_["role"] == "positive", "user_id"]
        return (f"[{name}] {self.strategy}: added {self.n_added_} rows for "
                f"{served.nunique()} of {self.n_users_sampled_} sampled users (the others "
                f"had no candidate left), {self.n_negatives_} negative triples, "
                f"{self.n_failed_} failed LLM calls; {self.llm_time_:.1f} s.")

    # ------------------------------------------------------------------ llm_select
    def _llm_select(self, X, users, llm, seed, timer):
        select = check_template(self.select_template, CHOICE_FIELDS, "select_template")
        negative = (check_template(self.negative_template, CHOICE_FIELDS, "negative_template")
                    if self.sample_negatives else None)
        self.retriever_ = make_retriever(self.retriever).fit(X)
        seen = X.to_csr(values="ones", include_augmented=False)
        candidates = self.retriever_.candidates(users, self.n_candidates, seen)
        pool = {u: list(row[row >= 0]) for u, row in zip(users, candidates, strict=True)}
        context = _PromptContext(X, self.max_history, seed, self.title_col)
        positives, triples = [], []
        for _ in range(self.n_positive):
            picked = self._choose_round(llm, select, context, pool, minimum=1, timer=timer)
            for user, item in picked:
                pool[user].remove(item)
            positives.extend(picked)
            if negative is not None:
                picked_users = {u: item for u, item in picked}
                rejected = self._choose_round(llm, negative, context,
                                              {u: pool[u] for u in picked_users},
                                              minimum=1, timer=timer)
                for user, item in rejected:
                    pool[user].remove(item)
                    triples.append((user, picked_users[user], item))
        return self._add_rows(X, positives, triples)

    def _choose_round(self, llm, template, context, pool, *, minimum, timer):
        """One LLM choice per user with enough candidates left: [(user, item code)]."""
        asking = [u for u, items in pool.items() if len(items) >= minimum]
        options = [context.options(pool[u]) for u in asking]
        prompts = [context.prompt(template, u, candidates="\n".join(opts))
                   for u, opts in zip(asking, options, strict=True)]
        with timer:
            chosen = llm_choose(llm, prompts, options, verbose=self.verbose)
        self.n_failed_ += int((chosen < 0).sum())
        return [(u, pool[u][c]) for u, c in zip(asking, chosen, strict=True) if c >= 0]

    def _add_rows(self, X, positives, triples=()):
        users = np.array([u for u, _ in positives], dtype=np.int64)
        items = np.array([i for _, i in positives], dtype=np.int64)
        result = X.with_added_rows(users, items, weight=self.augmented_weight)
        self.n_added_ = len(positives)
        edits = _edit_frame(X, users, items, "positive")
        if len(triples):
            triples = np.asarray(triples, dtype=np.int64)
            # appended after any triples the data carries (the artifact contract's merge)
            result = result.with_artifacts(negatives=triples)
            self.n_negatives_ = len(triples)
            edits = pd.concat([edits, _edit_frame(X, triples[:, 0], triples[:, 2],
                                                  "negative")], ignore_index=True)
        return result, edits

    # ------------------------------------------------------------------ embedding
    def _item_vectors(self, X, timer):
        self.encoder_ = check_encoder(self.encoder)
        with timer:
            vectors = embed_texts(self.encoder_, item_texts(X, self.text_columns))
        if vectors.shape[1] == 0:
            raise ValueError("No item has text to embed: every text column is empty.")
        return unit_rows(vectors)

    def _nearest_items(self, X, users, seed, timer):
        vectors = self._item_vectors(X, timer)
        usable = np.linalg.norm(vectors, axis=1) > 0
        histories = recent_histories(X, self.max_history, seed)
        profiles = unit_rows(np.stack([vectors[histories[u]].mean(axis=0) for u in users]))
        seen = X.to_csr(values="ones", include_augmented=False)
        picked_users, picked_items = [], []
        step = max(1, 2**22 // max(X.n_items, 1))
        for start in range(0, len(users), step):
            block = users[start:start + step]
            scores = profiles[start:start + step] @ vectors.T
            scores[:, ~usable] = -np.inf
            mask = seen[block]
            rows = np.repeat(np.arange(len(block)), np.diff(mask.indptr))
            scores[rows, mask.indices] = -np.inf
            no_profile = np.linalg.norm(profiles[start:start + step], axis=1) == 0
            scores[no_profile] = -np.inf  # none of the user's items has text: nothing near
            for row, user in enumerate(block):
                best = _top(scores[row], self.n_positive)
                picked_users.extend([user] * len(best))
                picked_items.extend(best)
        return self._add_rows(X, list(zip(picked_users, picked_items, strict=True)))

    # ------------------------------------------------------------------ denoise
    def _denoise(self, X, users, llm, seed, timer):
        real = ~X.augmented_mask()
        rows = np.flatnonzero(real & np.isin(X.user_codes, users))
        if self.denoise_scorer == "embedding":
            scores = self._embedding_plausibility(X, rows, timer)
        else:
            scores = self._llm_plausibility(X, rows, llm, seed, timer)
        self.n_scored_ = int(np.isfinite(scores).sum())
        chosen = _least_plausible(X.user_codes[rows], scores, self.denoise_fraction)
        affected = rows[chosen]
        role = "dropped" if self.denoise_action == "drop" else "downweighted"
        edits = _edit_frame(X, X.user_codes[affected], X.item_codes[affected], role,
                            scores[chosen])
        if self.denoise_action == "drop":
            keep = np.ones(len(X), bool)
            keep[affected] = False
            self.n_dropped_ = len(affected)
            return X.take(keep), edits
        weights = X.row_weights().astype(np.float32, copy=True)
        weights[affected] *= np.float32(self.denoise_weight)
        self.n_downweighted_ = len(affected)
        return X.with_weights(weights), edits

    def _embedding_plausibility(self, X, rows, timer):
        """Cosine of each row's item to the mean of the user's other real items."""
        vectors = self._item_vectors(X, timer)
        real = ~X.augmented_mask()
        totals = np.zeros((X.n_users, vectors.shape[1]), np.float64)
        np.add.at(totals, X.user_codes[real], vectors[X.item_codes[real]])
        counts = np.bincount(X.user_codes[real], minlength=X.n_users)
        own = vectors[X.item_codes[rows]]
        others = totals[X.user_codes[rows]] - own
        scores = np.einsum("ij,ij->i", unit_rows(others), own)
        invalid = ((counts[X.user_codes[rows]] < 2) | (np.linalg.norm(own, axis=1) == 0)
                   | (np.linalg.norm(others, axis=1) < 1e-9))
        scores[invalid] = np.nan
        return scores

    def _llm_plausibility(self, X, rows, llm, seed, timer):
        """Log-odds of " yes" over " no" to "does this item fit the user's other items?"."""
        template = check_template(self.denoise_template, DENOISE_FIELDS, "denoise_template")
        context = _PromptContext(X, len(X), seed, self.title_col)
        prompts = []
        for row in rows:
            user, item = X.user_codes[row], X.item_codes[row]
            others = context.histories[user][context.histories[user] != item]
            prompts.append(context.prompt(template, user, items=others[-self.max_history:],
                                          item=context.titles[item]))
        with timer:
            logprobs = llm_score(llm, prompts, list(DENOISE_OPTIONS), verbose=self.verbose)
        self.n_failed_ += int(np.isnan(logprobs).any(axis=1).sum())
        return logprobs[:, 0] - logprobs[:, 1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.target_tags.required = False
        return tags


class _PromptContext:
    """Titles and recent histories of one dataset, and prompt filling for its users."""

    def __init__(self, X, max_history, seed, title_col):
        self.X = X
        self.titles = item_titles(X, title_col)
        self.histories = recent_histories(X, max_history, seed)

    def options(self, items):
        """Numbered candidate lines: distinct even when titles repeat."""
        return [f"{n}. {_short(self.titles[i])}" for n, i in enumerate(items, start=1)]

    def prompt(self, template, user, items=None, **fields):
        items = self.histories[user] if items is None else items
        return fill_template(template, {
            "history": format_history(_short(t) for t in self.titles[items]),
            "n_items": len(items),
            "user_id": self.X.user_ids[user],
            **fields,
        })


def _short(title: str) -> str:
    return title if len(title) <= _MAX_TITLE_CHARS else title[:_MAX_TITLE_CHARS - 3] + "..."


def _top(scores: np.ndarray, n: int) -> list[int]:
    """Indices of the ``n`` best finite scores, best first."""
    finite = np.flatnonzero(np.isfinite(scores))
    order = finite[np.argsort(-scores[finite], kind="stable")]
    return order[:n].tolist()


def _least_plausible(user_codes, scores, fraction) -> np.ndarray:
    """Positions of the ``fraction`` lowest finite scores; each user keeps its best row."""
    finite = np.flatnonzero(np.isfinite(scores))
    n_chosen = int(round(fraction * len(finite)))
    if n_chosen == 0:
        return np.zeros(0, np.int64)
    by_user_best = np.lexsort((-scores[finite], user_codes[finite]))
    ordered = finite[by_user_best]
    first_of_user = np.r_[True, user_codes[ordered][1:] != user_codes[ordered][:-1]]
    eligible = np.setdiff1d(finite, ordered[first_of_user])
    lowest = eligible[np.argsort(scores[eligible], kind="stable")]
    return np.sort(lowest[:n_chosen])


def _edit_frame(X, users, items, role, scores=None) -> pd.DataFrame:
    users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
    return pd.DataFrame({
        "user_id": X.user_ids.take(users),
        "item_id": X.item_ids.take(items),
        "role": [role] * len(users),
        "score": np.full(len(users), np.nan) if scores is None else np.asarray(scores, float),
    }, columns=_ROW_COLUMNS)
