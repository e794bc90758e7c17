"""The strategies of :class:`LLMInteractionAugmenter`: what is added to or removed from the data.

Each strategy is a small scikit-learn estimator holding only its own parameters, so
``clone``, ``get_params`` and ``GridSearchCV`` reach them as
``strategy__<name>``. The augmenter validates them, samples the users and hands a
:class:`_Run` (the data, the LLM, the encoder, titles and histories) to the
strategy's ``_resample``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from .._text import (
    StageTimer,
    check_encoder,
    check_template,
    embed_texts,
    fill_template,
    format_history,
    item_texts,
    item_titles,
    recent_histories,
    unit_rows,
)
from ._prompts import (
    DEFAULT_DENOISE_TEMPLATE,
    DEFAULT_JUDGE_TEMPLATE,
    DEFAULT_SELECT_TEMPLATE,
    ITEM_FIELDS,
    SELECT_FIELDS,
)
from ._retrievers import make_retriever
from ._scoring import answer_logprobs, yes_log_odds

__all__ = ["Denoise", "EmbeddingNeighbors", "LLMSelect"]

_MAX_TITLE_CHARS = 100
EDIT_COLUMNS = ["user_id", "item_id", "role", "score", "retriever_rank"]


# ---------------------------------------------------------------------- shared state
class _Run:
    """One fit of the augmenter: the data, its sampled users, and lazily built helpers."""

    def __init__(self, X, users, *, llm, encoder, max_history, title_col, text_columns,
                 seed, verbose):
        self.X, self.users = X, users
        self.llm, self.encoder = llm, encoder
        self.max_history, self.title_col, self.text_columns = max_history, title_col, text_columns
        self.seed, self.verbose = seed, verbose
        self.timer = StageTimer()
        self.n_failed = 0
        self.encoder_ = None

    def need_llm(self, strategy: str):
        if self.llm is None:
            raise ValueError(
                f"{strategy} scores with an LLM, but llm=None; pass "
                "llm=LlamaCppLLM(...) (any backend with score_options()), or use "
                "strategy=EmbeddingNeighbors() / Denoise(scorer='embedding'), which need "
                "only the encoder."
            )
        return self.llm

    @cached_property
    def titles(self) -> np.ndarray:
        return np.array([_short(t) for t in item_titles(self.X, self.title_col)], dtype=object)

    @cached_property
    def histories(self) -> list[np.ndarray]:
        return recent_histories(self.X, len(self.X), self.seed)

    @cached_property
    def tie_keys(self) -> np.ndarray:
        """A seeded random key per item code: the only thing that orders equal scores."""
        return np.random.default_rng(self.seed).permutation(self.X.n_items)

    def recent(self, user, exclude=None) -> np.ndarray:
        items = self.histories[user]
        if exclude is not None:
            items = items[items != exclude]
        return items[len(items) - min(len(items), self.max_history):]

    def fields(self, user, items) -> dict:
        return {"history": format_history(self.titles[items]), "n_items": len(items),
                "user_id": self.X.user_ids[user]}

    def item_vectors(self) -> np.ndarray:
        self.encoder_ = check_encoder(self.encoder)
        with self.timer:
            vectors = embed_texts(self.encoder_, item_texts(self.X, self.text_columns))
        if vectors.shape[1] == 0:
            raise ValueError("No item has text to embed: every text column is empty; pass "
                             "text_columns=... naming columns of the items table that hold "
                             "text.")
        return unit_rows(vectors)


@dataclass
class _Outcome:
    data: object
    edits: pd.DataFrame
    counts: dict = field(default_factory=dict)
    retriever: object = None


class _Strategy(BaseEstimator):
    """Base of the strategies: parameters only; the work happens in ``_resample``."""

    def _resample(self, run: _Run) -> _Outcome:  # pragma: no cover - abstract
        raise NotImplementedError


class _AddingStrategy(_Strategy):
    """Strategies that add rows: their weight, rating and time."""

    def _add(self, run, users, items, scores, ranks=None):
        X = run.X
        users = np.asarray(users, np.int64)
        items = np.asarray(items, np.int64)
        data = append_rows(X, users, items, weight=self.augmented_weight,
                           rating=self.augmented_rating)
        edits = edit_frame(X, users, items, "positive", scores, ranks)
        return data, edits


# ---------------------------------------------------------------------- LLMSelect
class LLMSelect(_AddingStrategy):
    """Strategy: the LLM scores each retrieved candidate on its own; the best are added.

    For each sampled user a cheap retriever proposes ``n_candidates`` unseen items.
    The LLM scores every candidate **separately** (see ``scoring``), so the choice
    does not depend on the order in which the candidates came, and the
    ``n_positive`` best-scored candidates are added as rows. Exact ties (two items
    with the same title) are broken by a seeded random key. With
    ``sample_negatives=True`` the worst-scored remaining candidates become LLMRec's
    (user, positive, negative) triples, the best positive paired with the worst
    candidate.

    From LLMRec (Wei et al., WSDM 2024) this takes the idea of an LLM that samples a
    positive and a negative item for a user among a small candidate pool, and the
    triples that feed a BPR-style loss. It simplifies: LLMRec asks the LLM to name
    one positive and one negative from a listed pool; here every candidate is scored
    on its own (a listed pool lets the listing order decide; Hou et al., ECIR 2024,
    measure that position bias), and LLMRec's LLM-written user and item attributes
    and its denoising of the augmented edges are left out (see :class:`Denoise`).

    Parameters
    ----------
    retriever : {"popularity", "item_knn"} or recommender, default="popularity"
        Proposes the candidates: the most popular unseen items, the unseen items
        that co-occur most with the user's items (cosine item-kNN), or the top of a
        skllmers recommender's ``recommend``. A recommender is cloned and fitted on
        the training data inside ``fit`` (its own fitted state is never used), so it
        survives ``clone`` and ``GridSearchCV`` and never sees held-out rows.
    n_candidates : int, default=20
        Candidates scored per user (cost: one prompt per user for ``"likelihood"``,
        two for ``"pmi"``, ``n_candidates`` for ``"yes"``).
    n_positive : int, default=1
        Best-scored candidates added per sampled user.
    scoring : {"pmi", "likelihood", "yes"}, default="pmi"
        How a candidate is scored, always on its own:

        - ``"likelihood"``: the log-probability of the candidate's title as the
          answer to ``select_template``, divided by the title's length in bytes
          (lm-evaluation-harness's ``acc_norm``).
        - ``"pmi"``: the log-probability of the title as the answer to
          ``select_template`` minus its log-probability as the answer to the same
          template with an empty history (domain-conditional PMI, Holtzman et al.,
          EMNLP 2021): what the user's history adds, so a title the model finds
          likely for anyone (short, famous) does not win for everyone.
        - ``"yes"``: ``log P(yes) - log P(no)`` in reply to ``judge_template``
          ("would this user enjoy X?"), one prompt per candidate.
    sample_negatives : bool, default=False
        Also attach (user, positive, negative) code triples as the ``"negatives"``
        artifact (appended to an existing one); the negatives are the
        worst-scored remaining candidates. Negatives are not rows.
    augmented_weight : float, default=0.5
        Training weight of the added rows.
    augmented_rating : {"user_mean", "user_max"} or float, default="user_mean"
        Rating of the added rows when the data has ratings: the user's mean (or
        highest) real rating, or this number. Never left missing, so a model that
        reads ratings does not take an added row as a one-star rating.
    select_template : str, default=DEFAULT_SELECT_TEMPLATE
        Prompt whose answer is the title (``"likelihood"`` and ``"pmi"``). Fields:
        ``history``, ``n_items``, ``user_id``.
    judge_template : str, default=DEFAULT_JUDGE_TEMPLATE
        Yes/no prompt of ``"yes"``. Fields: ``history``, ``item``, ``n_items``,
        ``user_id``.

    See Also
    --------
    LLMInteractionAugmenter : Runs the strategy.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.interaction import LLMInteractionAugmenter, LLMSelect
    >>> from skllmers.llm.testing import ScriptedLLM
    >>> def space_fan(prompt, options):  # stands in for an LLM that likes "space" titles
    ...     return [0.0 if "space" in option else -5.0 for option in options]
    >>> rows = pd.DataFrame({"user_id": [1, 1, 2, 3], "item_id": ["a", "b", "a", "c"]})
    >>> items = pd.DataFrame({"title": ["space a", "b", "space c"]}, index=["a", "b", "c"])
    >>> data = InteractionData.from_pandas(rows, items)
    >>> augmenter = LLMInteractionAugmenter(
    ...     ScriptedLLM(scorer=space_fan), strategy=LLMSelect(n_candidates=2,
    ...                                                       scoring="likelihood"))
    >>> augmenter.fit_resample(data).augmented_mask().sum()
    np.int64(3)
    >>> augmenter.edited_rows_[["user_id", "item_id", "role"]]
       user_id item_id      role
    0        1       c  positive
    1        2       c  positive
    2        3       a  positive
    """

    _parameter_constraints: dict = {
        "retriever": [StrOptions({"popularity", "item_knn"}), HasMethods(["fit", "recommend"])],
        "n_candidates": [Interval(Integral, 1, None, closed="left")],
        "n_positive": [Interval(Integral, 1, None, closed="left")],
        "scoring": [StrOptions({"pmi", "likelihood", "yes"})],
        "sample_negatives": ["boolean"],
        "augmented_weight": [Interval(Real, 0, None, closed="neither")],
        "augmented_rating": [StrOptions({"user_mean", "user_max"}),
                             Interval(Real, None, None, closed="neither")],
        "select_template": [str],
        "judge_template": [str],
    }

    def __init__(self, *, retriever="popularity", n_candidates=20, n_positive=1,
                 scoring="pmi", sample_negatives=False, augmented_weight=0.5,
                 augmented_rating="user_mean", select_template=DEFAULT_SELECT_TEMPLATE,
                 judge_template=DEFAULT_JUDGE_TEMPLATE):
        self.retriever = retriever
        self.n_candidates = n_candidates
        self.n_positive = n_positive
        self.scoring = scoring
        self.sample_negatives = sample_negatives
        self.augmented_weight = augmented_weight
        self.augmented_rating = augmented_rating
        self.select_template = select_template
        self.judge_template = judge_template

    def _resample(self, run):
        if self.sample_negatives and self.n_candidates < 2:
            raise ValueError(f"sample_negatives=True needs n_candidates >= 2 (a positive and a "
                             f"negative); got n_candidates={self.n_candidates}.")
        template = (check_template(self.judge_template, ITEM_FIELDS, "judge_template")
                    if self.scoring == "yes"
                    else check_template(self.select_template, SELECT_FIELDS, "select_template"))
        llm = run.need_llm("LLMSelect")
        X, users = run.X, run.users
        real = X.take(~X.augmented_mask()) if X.augmented is not None else X
        retriever = make_retriever(self.retriever).fit(real)
        seen = X.to_csr(values="ones", include_augmented=False)
        candidates = retriever.candidates(users, self.n_candidates, seen)
        scores = candidate_scores(run, llm, template, self.scoring, users, candidates)
        positives, negatives = self._pick(run, users, candidates, scores)
        data, edits = self._add(run, positives["user"], positives["item"],
                                positives["score"], positives["rank"])
        counts = {"n_added": len(positives["user"]), "n_scored": int(np.isfinite(scores).sum())}
        if self.sample_negatives:
            data, negative_edits, counts["n_negatives"] = _attach_negatives(X, data, negatives)
            edits = pd.concat([edits, negative_edits], ignore_index=True)
        return _Outcome(data, edits, counts, retriever)

    def _pick(self, run, users, candidates, scores):
        """Best ``n_positive`` candidates of each user, and the worst remaining as negatives.

        Returns two dicts of columns: positives (user, item, score, rank) and
        negatives (the same, plus ``positive``: the best positive pairs with the worst
        candidate, the second best with the second worst).
        """
        positives = {"user": [], "item": [], "score": [], "rank": []}
        negatives = {"user": [], "item": [], "score": [], "rank": [], "positive": []}
        for row, user in enumerate(users):
            usable = np.flatnonzero((candidates[row] >= 0) & np.isfinite(scores[row]))
            items = candidates[row, usable]
            order = usable[np.lexsort((run.tie_keys[items], -scores[row, usable]))]
            best = order[:self.n_positive]
            worst = order[len(best):][::-1][:len(best)] if self.sample_negatives else []
            for column, position in enumerate(best):
                _append(positives, user, candidates[row, position], scores[row, position],
                        position + 1)
                if column < len(worst):
                    _append(negatives, user, candidates[row, worst[column]],
                            scores[row, worst[column]], worst[column] + 1,
                            positive=candidates[row, position])
        return positives, negatives


def _append(columns, user, item, score, rank, **extra):
    for name, value in {"user": user, "item": item, "score": score, "rank": rank,
                        **extra}.items():
        columns[name].append(value)


def candidate_scores(run, llm, template, scoring, users, candidates) -> np.ndarray:
    """Order-free score of each (user, candidate) cell; NaN for padding and failures."""
    cells = [(row, col) for row in range(len(users)) for col in range(candidates.shape[1])
             if candidates[row, col] >= 0]
    scores = np.full(candidates.shape, np.nan)
    if not cells:
        return scores
    rows, cols = np.array(cells).T
    titles = run.titles[candidates[rows, cols]]
    histories = [run.recent(user) for user in users]
    if scoring == "yes":
        prompts = [fill_template(template, {**run.fields(users[r], histories[r]), "item": t})
                   for r, t in zip(rows, titles, strict=True)]
        with run.timer:
            values, n_failed = yes_log_odds(llm, prompts, verbose=run.verbose)
    else:
        prompts = [fill_template(template, run.fields(user, items))
                   for user, items in zip(users, histories, strict=True)]
        values, n_failed = _title_logprobs(run, llm, prompts, rows, titles)
        if scoring == "likelihood":
            values = values / np.array([max(1, len(t.encode("utf-8"))) for t in titles])
        else:
            empty = np.zeros(0, np.int64)
            priors = [fill_template(template, run.fields(user, empty)) for user in users]
            prior_values, prior_failed = _title_logprobs(run, llm, priors, rows, titles)
            values, n_failed = values - prior_values, n_failed + prior_failed
    run.n_failed += n_failed
    scores[rows, cols] = values
    return scores


def _title_logprobs(run, llm, prompts, rows, titles):
    """log P(title | prompt of its row), one value per cell."""
    by_row = {}
    for row, title in zip(rows, titles, strict=True):
        by_row.setdefault(row, []).append(title)
    order = sorted(by_row)
    with run.timer:
        results, n_failed = answer_logprobs(llm, [prompts[r] for r in order],
                                            [by_row[r] for r in order], verbose=run.verbose)
    lookup = {(r, t): s for r, res in zip(order, results, strict=True)
              for t, s in zip(by_row[r], res, strict=True)}
    return np.array([lookup[(r, t)] for r, t in zip(rows, titles, strict=True)]), n_failed


def _attach_negatives(X, data, negatives):
    """``data`` with the (user, positive, negative) triples appended to its artifact."""
    triples = np.array([negatives["user"], negatives["positive"], negatives["item"]],
                       dtype=np.int64).T.reshape(-1, 3)
    edits = edit_frame(X, negatives["user"], negatives["item"], "negative",
                       negatives["score"], negatives["rank"])
    # the artifact contract appends them after any triples the data already carries
    return data.with_artifacts(negatives=triples), edits, len(triples)


# ---------------------------------------------------------------------- embedding
class EmbeddingNeighbors(_AddingStrategy):
    """Strategy: add the unseen items nearest to the user's recent items in an embedding space.

    Each sampled user's profile is the mean unit vector of their ``max_history``
    most recent real items (item texts embedded by the augmenter's ``encoder``),
    and the ``n_positive`` unseen items of highest cosine to it are added. No LLM
    call; with an LLM backend as the encoder the space is the LLM's own. This is the
    default strategy: it fits with the default :class:`~skllmers.llm.SentenceEncoder`.

    From LLM-InS (LLM-based interaction simulation for cold-start items, Huang et
    al., 2024) this takes the embedding-similarity filter that proposes plausible
    user-item pairs. It simplifies: LLM-InS simulates interactions for cold items
    and refines the pairs with an LLM; here any unseen item can be added for a
    sampled user, by similarity alone (use :class:`LLMSelect` for an LLM's
    judgement).

    Parameters
    ----------
    n_positive : int, default=1
        Nearest unseen items added per sampled user.
    augmented_weight : float, default=0.5
        Training weight of the added rows.
    augmented_rating : {"user_mean", "user_max"} or float, default="user_mean"
        Rating of the added rows when the data has ratings (see :class:`LLMSelect`).

    See Also
    --------
    LLMInteractionAugmenter : Runs the strategy.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.interaction import EmbeddingNeighbors, LLMInteractionAugmenter
    >>> from skllmers.llm.testing import HashingEncoder
    >>> rows = pd.DataFrame({"user_id": [1, 2], "item_id": ["a", "c"]})
    >>> items = pd.DataFrame({"title": ["space rocket", "space comet", "whisk dough",
    ...                                 "whisk bread"]}, index=["a", "b", "c", "d"])
    >>> augmenter = LLMInteractionAugmenter(encoder=HashingEncoder(64),
    ...                                     strategy=EmbeddingNeighbors(), random_state=0)
    >>> out = augmenter.fit_resample(InteractionData.from_pandas(rows, items))
    >>> augmenter.edited_rows_[["user_id", "item_id"]].values.tolist()
    [[1, 'b'], [2, 'd']]
    """

    _parameter_constraints: dict = {
        "n_positive": [Interval(Integral, 1, None, closed="left")],
        "augmented_weight": [Interval(Real, 0, None, closed="neither")],
        "augmented_rating": [StrOptions({"user_mean", "user_max"}),
                             Interval(Real, None, None, closed="neither")],
    }

    def __init__(self, *, n_positive=1, augmented_weight=0.5, augmented_rating="user_mean"):
        self.n_positive = n_positive
        self.augmented_weight = augmented_weight
        self.augmented_rating = augmented_rating

    def _resample(self, run):
        X, users = run.X, run.users
        vectors = run.item_vectors()
        usable = np.linalg.norm(vectors, axis=1) > 0
        histories = [run.recent(user) for user in users]
        profiles = unit_rows(np.stack([vectors[h].mean(axis=0) if len(h) else
                                       np.zeros(vectors.shape[1]) for h in histories]))
        seen = X.to_csr(values="ones", include_augmented=False)
        picked_users, picked_items, picked_scores = [], [], []
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
                best = _top(scores[row], self.n_positive, run.tie_keys)
                picked_users.extend([user] * len(best))
                picked_items.extend(best)
                picked_scores.extend(scores[row, best].tolist())
        data, edits = self._add(run, picked_users, picked_items, picked_scores)
        return _Outcome(data, edits, {"n_added": len(picked_items)})


# ---------------------------------------------------------------------- denoise
class Denoise(_Strategy):
    """Strategy: drop or down-weight the real rows that fit a user's history least.

    Each real row of a sampled user is scored for how well its item fits the rest
    of the user's history, and the least plausible ``fraction`` of the scored rows
    (never a user's best row) are dropped or down-weighted.

    From LLMHD (Song et al., "Large Language Model Enhanced Hard Sample
    Identification for Denoising Recommendation", arXiv 2409.10343, 2024) this
    takes an LLM scorer of the semantic consistency of an interacted item with the
    user's preference, used to tell noisy rows from hard ones; LLMRec (Wei et al.,
    WSDM 2024) likewise prunes unreliable edges. It simplifies: the preference is the
    user's other recent items (LLMHD summarises it with an LLM and updates the
    summary iteratively), every row of a sampled user is scored (LLMHD first keeps
    the rows whose training loss varies most), and the least consistent share is
    dropped or down-weighted once, before training, rather than re-weighted inside
    the model's loss.

    Parameters
    ----------
    fraction : float in (0, 1], default=0.1
        Share of the scored rows that are dropped or down-weighted.
    action : {"drop", "downweight"}, default="drop"
        Remove those rows, or multiply their weight by ``weight``.
    weight : float, default=0.2
        Weight factor of down-weighted rows.
    scorer : {"embedding", "llm"}, default="embedding"
        Plausibility of a row: cosine of the item's vector to the mean vector of the
        user's other real items (the augmenter's ``encoder``), or the LLM's
        ``log P(yes) - log P(no)`` in reply to ``template`` (one prompt per row).
    template : str, default=DEFAULT_DENOISE_TEMPLATE
        Prompt of the LLM scorer. Fields: ``history`` (the user's other recent
        items), ``item``, ``n_items``, ``user_id``.

    See Also
    --------
    LLMInteractionAugmenter : Runs the strategy.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.interaction import Denoise, LLMInteractionAugmenter
    >>> from skllmers.llm.testing import HashingEncoder
    >>> items = pd.DataFrame({"text": ["space rocket", "space comet", "space star",
    ...                                "whisk dough"]}, index=list("abcd"))
    >>> rows = pd.DataFrame({"user_id": [1, 1, 1, 1], "item_id": list("abcd")})
    >>> augmenter = LLMInteractionAugmenter(encoder=HashingEncoder(64),
    ...                                     strategy=Denoise(fraction=0.25))
    >>> out = augmenter.fit_resample(InteractionData.from_pandas(rows, items))
    >>> augmenter.edited_rows_[["item_id", "role"]].values.tolist()
    [['d', 'dropped']]
    """

    _parameter_constraints: dict = {
        "fraction": [Interval(Real, 0, 1, closed="right")],
        "action": [StrOptions({"drop", "downweight"})],
        "weight": [Interval(Real, 0, None, closed="neither")],
        "scorer": [StrOptions({"embedding", "llm"})],
        "template": [str],
    }

    def __init__(self, *, fraction=0.1, action="drop", weight=0.2, scorer="embedding",
                 template=DEFAULT_DENOISE_TEMPLATE):
        self.fraction = fraction
        self.action = action
        self.weight = weight
        self.scorer = scorer
        self.template = template

    def _resample(self, run):
        X, users = run.X, run.users
        real = ~X.augmented_mask()
        rows = np.flatnonzero(real & np.isin(X.user_codes, users))
        if self.scorer == "embedding":
            scores = _embedding_plausibility(run, rows)
        else:
            scores = self._llm_plausibility(run, rows)
        chosen = _least_plausible(X.user_codes[rows], scores, self.fraction)
        affected = rows[chosen]
        role = "dropped" if self.action == "drop" else "downweighted"
        edits = edit_frame(X, X.user_codes[affected], X.item_codes[affected], role,
                           scores[chosen])
        counts = {"n_scored": int(np.isfinite(scores).sum())}
        if self.action == "drop":
            keep = np.ones(len(X), bool)
            keep[affected] = False
            counts["n_dropped"] = len(affected)
            return _Outcome(X.take(keep), edits, counts)
        weights = X.row_weights().astype(np.float32, copy=True)
        weights[affected] *= np.float32(self.weight)
        counts["n_downweighted"] = len(affected)
        return _Outcome(X.with_weights(weights), edits, counts)

    def _llm_plausibility(self, run, rows):
        """Log-odds of yes over no to "does this item fit the user's other items?"."""
        template = check_template(self.template, ITEM_FIELDS, "template")
        llm = run.need_llm("Denoise(scorer='llm')")
        X = run.X
        prompts = []
        for row in rows:
            user, item = X.user_codes[row], X.item_codes[row]
            others = run.recent(user, exclude=item)
            prompts.append(fill_template(template, {**run.fields(user, others),
                                                    "item": run.titles[item]}))
        with run.timer:
            odds, n_failed = yes_log_odds(llm, prompts, verbose=run.verbose)
        run.n_failed += n_failed
        return odds


def _embedding_plausibility(run, rows):
    """Cosine of each row's item to the mean of the user's other real items."""
    X = run.X
    vectors = run.item_vectors()
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


# ---------------------------------------------------------------------- rows
def append_rows(X, users, items, *, weight, rating):
    """``X`` with (user, item) rows flagged as augmented, timed and rated as the user's own.

    An added row is timed just before the user's latest real row (one unit earlier,
    or the next float down), so a sequential model such as SASRec still ends the
    user's sequence, and serves, from real history, and the row is not in the
    future of the user's other data. When ``X`` has ratings the row gets
    ``rating`` ("user_mean", "user_max" of the user's real ratings, or a number).
    """
    times = None
    if X.timestamps is not None:
        last = _last_real_time(X)[users]
        times = (last - 1 if np.issubdtype(last.dtype, np.integer)
                 else np.nextafter(last, -np.inf))
    data = X.with_added_rows(users, items, weight=weight, timestamps=times)
    if X.ratings is None or len(users) == 0:
        return data
    ratings = np.asarray(data.ratings, np.float32).copy()
    ratings[len(X):] = _user_ratings(X, rating)[users]
    return type(data)(
        data.user_codes, data.item_codes, user_ids=data.user_ids, item_ids=data.item_ids,
        ratings=ratings, timestamps=data.timestamps, weights=data.weights,
        augmented=data.augmented, items=data.items, users=data.users,
        artifacts=dict(data.artifacts),
    )


def _last_real_time(X) -> np.ndarray:
    real = ~X.augmented_mask()
    times = X.timestamps
    low = np.iinfo(times.dtype).min if np.issubdtype(times.dtype, np.integer) else -np.inf
    last = np.full(X.n_users, low, dtype=times.dtype)
    np.maximum.at(last, X.user_codes[real], times[real])
    return last


def _user_ratings(X, rating) -> np.ndarray:
    """The rating an added row of each user gets (NaN only when no rating is known)."""
    if not isinstance(rating, str):
        return np.full(X.n_users, float(rating), np.float32)
    real = ~X.augmented_mask() & np.isfinite(X.ratings)
    users, values = X.user_codes[real], X.ratings[real].astype(np.float64)
    fallback = values.mean() if len(values) else np.nan
    if rating == "user_max":
        out = np.full(X.n_users, -np.inf)
        np.maximum.at(out, users, values)
        out[~np.isfinite(out)] = values.max() if len(values) else np.nan
        return out.astype(np.float32)
    sums = np.bincount(users, values, minlength=X.n_users)
    counts = np.bincount(users, minlength=X.n_users)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(counts > 0, sums / np.maximum(counts, 1), fallback)
    return out.astype(np.float32)


def edit_frame(X, users, items, role, scores=None, ranks=None) -> pd.DataFrame:
    users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
    return pd.DataFrame({
        "user_id": X.user_ids.take(users),
        "item_id": X.item_ids.take(items),
        "role": [role] * len(users),
        "score": np.full(len(users), np.nan) if scores is None else np.asarray(scores, float),
        "retriever_rank": pd.array([pd.NA] * len(users) if ranks is None else list(ranks),
                                   dtype="Int64"),
    }, columns=EDIT_COLUMNS)


def _short(title: str) -> str:
    return title if len(title) <= _MAX_TITLE_CHARS else title[:_MAX_TITLE_CHARS - 3] + "..."


def _top(scores: np.ndarray, n: int, tie_keys: np.ndarray) -> list[int]:
    """Indices of the ``n`` best finite scores, best first; ties by the seeded key."""
    finite = np.flatnonzero(np.isfinite(scores))
    order = finite[np.lexsort((tie_keys[finite], -scores[finite]))]
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
