"""Scoring fitted recommenders on held-out interactions, and comparing two of them."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.pipeline import Pipeline

from ._ranking import RANKING_METRICS, catalog_coverage

__all__ = [
    "PairedTestResult",
    "evaluate",
    "make_rank_scorer",
    "paired_test",
    "per_user_scores",
]

_DEFAULT_METRICS = ("ndcg", "recall", "hit_rate", "map", "mrr")
_BOOTSTRAP_CHUNK = 2**22  # resampled values held at once (~32 MB of float64)


# ---------------------------------------------------------------------- held-out ranking
def _recommender_and_data(estimator, X):
    """The recommender that ranks, and ``X`` as it sees it (through a Pipeline's steps)."""
    final = estimator
    if isinstance(estimator, Pipeline):
        final = estimator.steps[-1][1]
        if len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
    if not hasattr(final, "_held_out_ranking"):
        raise TypeError(
            "Ranking metrics need a skllmers recommender (a BaseRecommender) or a "
            f"Pipeline ending in one; got {type(final).__name__}."
        )
    return final, X


def _held_out(estimator, X, k: int, candidates=None):
    recommender, X = _recommender_and_data(estimator, X)
    items = candidate_codes(recommender, candidates)
    return recommender, recommender._held_out_ranking(X, k, items=items)


def candidate_codes(recommender, candidates):
    """Sorted item codes a ranking is restricted to (None: the whole catalogue)."""
    if candidates is None or (isinstance(candidates, str) and candidates == "all"):
        return None
    if isinstance(candidates, str) and candidates == "cold":
        cold = np.flatnonzero(recommender.item_popularity_ == 0)
        if len(cold) == 0:
            raise ValueError(
                "candidates='cold' ranks among the items with no training row, and "
                f"{type(recommender).__name__} was trained on rows of every item of its id "
                "maps. Split with skllmers.model_selection.ColdItemSplit, which keeps the "
                "held-out items in the id maps, or pass candidates='all'."
            )
        return cold
    if isinstance(candidates, str):
        raise ValueError(f"candidates={candidates!r}; use 'all', 'cold' or an array of "
                         "item ids.")
    return recommender._item_codes(candidates, "candidates")


# ---------------------------------------------------------------------- metric resolution
def _resolve_metrics(metric) -> dict[str, Callable]:
    """``{name: function}`` from a name, a callable, or a sequence of them."""
    items = [metric] if isinstance(metric, str) or callable(metric) else list(metric)
    if not items:
        raise ValueError("metric is empty; name at least one of "
                         f"{sorted(RANKING_METRICS)}.")
    resolved = {}
    for item in items:
        if callable(item):
            resolved[getattr(item, "__name__", repr(item))] = item
        elif item in RANKING_METRICS:
            resolved[item] = RANKING_METRICS[item]
        else:
            raise ValueError(
                f"Unknown ranking metric {item!r}; use one of {sorted(RANKING_METRICS)} "
                "or a callable metric(relevant, recommended, k=k)."
            )
    return resolved


def _resolve_ks(k) -> list[int]:
    ks = [k] if isinstance(k, numbers.Integral) and not isinstance(k, bool) else k
    try:
        ks = list(ks)
    except TypeError:
        ks = [k]
    if not ks or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1
                     for v in ks):
        raise ValueError(f"k must be a positive int or a list of them, got {k!r}.")
    return sorted({int(v) for v in ks})


def _warn_if_nobody(ranking, where: str) -> None:
    if len(ranking.user_codes) == 0:
        warnings.warn(
            f"{where}: no held-out user could be evaluated (every test row's user or item "
            "is unknown to the model, augmented, or already seen in training); the "
            "metrics are NaN.",
            UserWarning,
            stacklevel=3,
        )


# ---------------------------------------------------------------------- scorer
class _RankScorer:
    """Callable ``(estimator, X, y=None) -> float | dict`` for scikit-learn's ``scoring``."""

    def __init__(self, metric, k, candidates="all"):
        self._metrics = _resolve_metrics(metric)
        self._ks = _resolve_ks(k)
        self._single = (isinstance(metric, str) or callable(metric)) and (
            isinstance(k, numbers.Integral))
        self._args = (metric, k)
        self._candidates = candidates

    def __call__(self, estimator, X, y=None, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("Ranking scorers take no sample_weight: metrics are per user.")
        _, ranking = _held_out(estimator, X, max(self._ks), self._candidates)
        _warn_if_nobody(ranking, repr(self))
        scores = {
            f"{name}@{k}": float(fn(ranking.relevant, ranking.recommended, k=k))
            for name, fn in self._metrics.items() for k in self._ks
        }
        return next(iter(scores.values())) if self._single else scores

    def __repr__(self) -> str:
        metric, k = self._args
        if callable(metric):
            metric = getattr(metric, "__name__", metric)
        elif not isinstance(metric, str):
            metric = [getattr(m, "__name__", m) for m in metric]
        extra = "" if _is_all(self._candidates) else f", candidates={self._candidates!r}"
        return f"make_rank_scorer(metric={metric!r}, k={k!r}{extra})"


def _is_all(candidates) -> bool:
    return candidates is None or (isinstance(candidates, str) and candidates == "all")


def make_rank_scorer(metric="ndcg", k=10, *, candidates="all"):
    """A scorer that ranks the catalogue for held-out users, for ``GridSearchCV``.

    The scorer is called as ``scorer(estimator, X_test)``, where ``estimator`` is a
    fitted recommender or a Pipeline ending in one (``X_test`` then goes through the
    Pipeline's other steps first, as in ``Pipeline.score``). ``X_test``'s rows are the
    held-out interactions: items a user had in training are excluded from the ranking
    and from the relevant set, and users with no relevant item left are skipped.

    Parameters
    ----------
    metric : str, callable, or sequence of them, default="ndcg"
        ``"ndcg"``, ``"recall"``, ``"hit_rate"``, ``"map"``, ``"mrr"``, or a callable
        ``metric(relevant, recommended, k=k) -> float`` like those of this module.
    k : int or sequence of int, default=10
        Length of the ranked list.
    candidates : {"all", "cold"} or array-like of item ids, default="all"
        The items ranked. ``"all"``: the model's whole catalogue. ``"cold"``: only
        the items with no (real) training row — the held-out items of
        :class:`~skllmers.model_selection.ColdItemSplit`, which a model can rank only
        from their text; held-out rows of other items are then left out. An array
        of external item ids: only those (e.g. a fixed candidate set).

    Returns
    -------
    callable
        With one metric and one ``k``, the scorer returns a float. Otherwise it
        returns a dict keyed ``"<metric>@<k>"`` (e.g. ``"ndcg@10"``), computed from one
        ranking: pass it as ``scoring=`` with ``refit="ndcg@10"``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.model_selection import cross_validate
    >>> from skllmers import InteractionData
    >>> from skllmers.metrics import make_rank_scorer
    >>> from skllmers.model_selection import LeaveLastOut
    >>> from skllmers.recommenders import BaseRecommender
    >>> class MostPopular(BaseRecommender):
    ...     def _fit(self, X):
    ...         pass
    ...     def _score_users(self, user_codes):
    ...         return self.item_popularity_[None, :].repeat(len(user_codes), axis=0)
    >>> df = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 3, 3, 4, 4, 4],
    ...                    "item_id": list("abcabacbca"),
    ...                    "t": [1, 2, 3, 1, 2, 1, 2, 1, 2, 3]})
    >>> X = InteractionData.from_pandas(df, time_col="t")
    >>> scorer = make_rank_scorer("hit_rate", k=1)
    >>> scorer
    make_rank_scorer(metric='hit_rate', k=1)
    >>> result = cross_validate(MostPopular(), X, cv=LeaveLastOut(random_state=0),
    ...                         scoring={"hr@1": scorer, "ndcg@10": make_rank_scorer()})
    >>> float(result["test_hr@1"][0])  # users 1, 2, 4 get their item first; user 3 not
    0.75
    """
    return _RankScorer(metric, k, candidates)


# ---------------------------------------------------------------------- evaluate
def evaluate(estimator, train, test, metrics=_DEFAULT_METRICS, k=10, *, fit=True,
             candidates="all"):
    """Fit a recommender on ``train`` and measure its top-``k`` lists on ``test``.

    Parameters
    ----------
    estimator : recommender or Pipeline ending in one
        Fitted in place on ``train`` when ``fit=True``.
    train : InteractionData or None
        Training interactions; ignored (may be ``None``) when ``fit=False``.
    test : InteractionData
        Held-out interactions (see :func:`make_rank_scorer` for how they are used).
    metrics : sequence of str or callable, default=("ndcg", "recall", "hit_rate", "map", "mrr")
        Metric names (or callables, as in :func:`make_rank_scorer`).
    k : int or sequence of int, default=10
        Length(s) of the top-``k`` lists; one column per metric and ``k``.
    fit : bool, default=True
        Whether to fit ``estimator`` on ``train`` first.
    candidates : {"all", "cold"} or array-like of item ids, default="all"
        The items ranked. ``"all"``: the model's whole catalogue. ``"cold"``: only
        the items with no (real) training row — the held-out items of
        :class:`~skllmers.model_selection.ColdItemSplit`, which a model can rank only
        from their text; held-out rows of other items are then left out. An array
        of external item ids: only those.

    Returns
    -------
    pandas.DataFrame
        One row, with a column ``"<metric>@<k>"`` per metric and ``k`` (mean over the
        evaluated users; the names of :func:`make_rank_scorer`'s keys and of
        ``GridSearchCV``'s ``cv_results_``), ``"coverage@<k>"`` (share of the ranked
        items — the catalogue or the candidates — in at least one top-``k`` list of an
        evaluated user), ``n_users`` (users evaluated) and, when ``candidates`` is not
        ``"all"``, ``n_candidates`` (items ranked). Rows of several models concatenate
        into a comparison table.

    See Also
    --------
    per_user_scores, paired_test : Compare two models on the same users.
    skllmers.model_selection.ColdItemSplit : A split whose test items are cold.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.metrics import evaluate
    >>> from skllmers.model_selection import LeaveLastOut, train_test_split_interactions
    >>> from skllmers.recommenders import BaseRecommender
    >>> class MostPopular(BaseRecommender):
    ...     def _fit(self, X):
    ...         pass
    ...     def _score_users(self, user_codes):
    ...         return self.item_popularity_[None, :].repeat(len(user_codes), axis=0)
    >>> df = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 3, 3, 4, 4, 4],
    ...                    "item_id": list("abcabacbca"),
    ...                    "t": [1, 2, 3, 1, 2, 1, 2, 1, 2, 3]})
    >>> X = InteractionData.from_pandas(df, time_col="t")
    >>> train, test = train_test_split_interactions(X, LeaveLastOut(random_state=0))
    >>> table = evaluate(MostPopular(), train, test, metrics=["hit_rate", "mrr"], k=[1, 2])
    >>> table.to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'hit_rate@1': 0.75, 'hit_rate@2': 1.0, 'mrr@1': 0.75, 'mrr@2': 0.875,
      'coverage@1': 1.0, 'coverage@2': 1.0, 'n_users': 4}]

    Cold items: hold out every row of some items, and rank among those items only
    (here one item is held out, so its three users find it first):

    >>> from skllmers.model_selection import ColdItemSplit
    >>> train, test = train_test_split_interactions(X, ColdItemSplit(1, random_state=0))
    >>> evaluate(MostPopular(), train, test, metrics=["hit_rate"], k=1,
    ...          candidates="cold").to_dict("records")
    [{'hit_rate@1': 1.0, 'coverage@1': 1.0, 'n_users': 3, 'n_candidates': 1}]
    """
    metric_fns = _resolve_metrics(metrics)
    ks = _resolve_ks(k)
    if fit:
        if train is None:
            raise ValueError("fit=True needs training data; pass train, or fit=False for "
                             "a fitted estimator.")
        estimator.fit(train)
    recommender, test = _recommender_and_data(estimator, test)
    items = candidate_codes(recommender, candidates)
    ranking = recommender._held_out_ranking(test, max(ks), items=items)
    _warn_if_nobody(ranking, "evaluate")
    row = {
        f"{name}@{k_}": float(fn(ranking.relevant, ranking.recommended, k=k_))
        for name, fn in metric_fns.items() for k_ in ks
    }
    n_candidates = recommender.n_items_ if items is None else len(items)
    for k_ in ks:
        row[f"coverage@{k_}"] = catalog_coverage(ranking.recommended, n_candidates, k=k_)
    row["n_users"] = len(ranking.user_codes)
    if items is not None:
        row["n_candidates"] = n_candidates
    return pd.DataFrame([row])


def per_user_scores(estimator, test, metric="ndcg", k=10, *, candidates="all") -> pd.Series:
    """One fitted recommender's metric for each held-out user.

    Parameters
    ----------
    estimator : fitted recommender or Pipeline ending in one
    test : InteractionData
        Held-out interactions (see :func:`make_rank_scorer`).
    metric : str or callable, default="ndcg"
        A name of :data:`~skllmers.metrics.RANKING_METRICS`, or a callable
        ``metric(relevant, recommended, k=k, average=False)`` giving per-user values.
    k : int, default=10
    candidates : {"all", "cold"} or array-like of item ids, default="all"
        The items ranked. ``"all"``: the model's whole catalogue. ``"cold"``: only
        the items with no (real) training row — the held-out items of
        :class:`~skllmers.model_selection.ColdItemSplit`, which a model can rank only
        from their text; held-out rows of other items are then left out. An array
        of external item ids: only those.

    Returns
    -------
    pandas.Series
        Indexed by external user id (index name ``"user_id"``), named
        ``"<metric>@<k>"``. Users with no relevant held-out item are absent. Two
        models scored on the same test set give Series that :func:`paired_test`
        compares.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.metrics import per_user_scores
    >>> from skllmers.model_selection import LeaveLastOut, train_test_split_interactions
    >>> from skllmers.recommenders import BaseRecommender
    >>> class MostPopular(BaseRecommender):
    ...     def _fit(self, X):
    ...         pass
    ...     def _score_users(self, user_codes):
    ...         return self.item_popularity_[None, :].repeat(len(user_codes), axis=0)
    >>> df = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 3, 3, 4, 4, 4],
    ...                    "item_id": list("abcabacbca"),
    ...                    "t": [1, 2, 3, 1, 2, 1, 2, 1, 2, 3]})
    >>> X = InteractionData.from_pandas(df, time_col="t")
    >>> train, test = train_test_split_interactions(X, LeaveLastOut(random_state=0))
    >>> per_user_scores(MostPopular().fit(train), test, "mrr", k=2)
    user_id
    1    1.0
    2    1.0
    3    0.5
    4    1.0
    Name: mrr@2, dtype: float64
    """
    if not (isinstance(metric, str) or callable(metric)):
        raise ValueError(f"per_user_scores takes one metric (a name or a callable), got "
                         f"{metric!r}.")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"per_user_scores takes one positive int k, got {k!r}.")
    ((name, fn),) = _resolve_metrics(metric).items()
    recommender, ranking = _held_out(estimator, test, int(k), candidates)
    values = np.asarray(fn(ranking.relevant, ranking.recommended, k=int(k), average=False),
                        dtype=np.float64)
    if values.shape != (len(ranking.user_codes),):
        raise ValueError(
            f"metric {name!r} returned {values.shape} values with average=False for "
            f"{len(ranking.user_codes)} users; it must return one value per user."
        )
    index = pd.Index(recommender.user_ids_.take(ranking.user_codes), name="user_id")
    return pd.Series(values, index=index, name=f"{name}@{int(k)}")


# ---------------------------------------------------------------------- paired test
@dataclass(frozen=True)
class PairedTestResult:
    """Outcome of :func:`paired_test`: is model A better than model B on the same users?

    Attributes
    ----------
    method : str
        ``"wilcoxon"`` or ``"bootstrap"``: how ``pvalue`` was computed.
    n : int
        Users compared (present in both score sets).
    mean_a, mean_b : float
        Mean score of each model over those users.
    mean_difference : float
        ``mean_a - mean_b``.
    relative_difference : float
        ``mean_difference / mean_b`` (the lift of A over B; NaN when ``mean_b`` is 0).
    ci_low, ci_high : float
        Percentile bootstrap confidence interval of ``mean_difference`` (users
        resampled with replacement), whatever the ``method``.
    confidence_level : float
    pvalue : float
        Two-sided p-value of "no difference".

    Examples
    --------
    >>> from skllmers.metrics import paired_test
    >>> result = paired_test([0.2, 0.5, 0.9, 0.4], [0.1, 0.5, 0.6, 0.3], random_state=0)
    >>> result.method, result.n, round(result.mean_difference, 3)
    ('wilcoxon', 4, 0.125)
    >>> result.ci_low <= result.mean_difference <= result.ci_high
    True
    """

    method: str
    n: int
    mean_a: float
    mean_b: float
    mean_difference: float
    relative_difference: float
    ci_low: float
    ci_high: float
    confidence_level: float
    pvalue: float


def paired_test(scores_a, scores_b, method="wilcoxon", *, n_resamples=10_000,
                confidence_level=0.95, random_state=None) -> PairedTestResult:
    """Test whether two models' per-user scores differ, pairing users.

    Two models evaluated on the same held-out users give paired scores; with a few
    hundred users, a lift of a few percent in the mean is often noise. This test says
    how likely such a difference is without a real one.

    Parameters
    ----------
    scores_a, scores_b : pandas.Series or array-like of float
        Per-user scores (e.g. from :func:`per_user_scores`). Two Series are paired by
        index (users present in only one are left out, with a warning); arrays are
        paired by position and must have the same length. Pairs with a NaN are left
        out.
    method : {"wilcoxon", "bootstrap"}, default="wilcoxon"
        ``"wilcoxon"``: the Wilcoxon signed-rank test of the differences
        (:func:`scipy.stats.wilcoxon`; zero differences are discarded, its default).
        ``"bootstrap"``: the share of bootstrap means of the differences, re-centred
        on zero, at least as far from zero as the observed mean (Efron & Tibshirani's
        test of the mean).
    n_resamples : int, default=10000
        Bootstrap resamples, for the confidence interval (both methods) and the
        bootstrap p-value.
    confidence_level : float, default=0.95
    random_state : int, numpy Generator or None, default=None
        Seed of the bootstrap.

    Returns
    -------
    PairedTestResult

    Examples
    --------
    >>> import numpy as np
    >>> from skllmers.metrics import paired_test
    >>> rng = np.random.default_rng(0)
    >>> b = rng.random(300)
    >>> a = b + 0.05 + 0.1 * rng.standard_normal(300)
    >>> result = paired_test(a, b, random_state=0)
    >>> result.n, result.pvalue < 0.001, result.ci_low > 0
    (300, True, True)
    >>> round(paired_test(b, b, method="bootstrap", random_state=0).pvalue, 3)
    1.0
    """
    if method not in ("wilcoxon", "bootstrap"):
        raise ValueError(f"method={method!r}; use 'wilcoxon' or 'bootstrap'.")
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must lie in (0, 1), got {confidence_level!r}.")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, numbers.Integral) \
            or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive int, got {n_resamples!r}.")
    a, b = _paired_values(scores_a, scores_b)
    diff = a - b
    rng = np.random.default_rng(random_state)
    boot_means = _bootstrap_means(diff, int(n_resamples), rng)
    alpha = 1 - confidence_level
    ci_low, ci_high = np.quantile(boot_means, [alpha / 2, 1 - alpha / 2])
    mean_diff = float(diff.mean())
    if method == "wilcoxon":
        pvalue = _wilcoxon_pvalue(diff)
    else:
        centred = np.abs(boot_means - mean_diff)
        pvalue = float((1 + np.sum(centred >= abs(mean_diff) - 1e-12)) / (1 + len(centred)))
    mean_b = float(b.mean())
    return PairedTestResult(
        method=method,
        n=len(diff),
        mean_a=float(a.mean()),
        mean_b=mean_b,
        mean_difference=mean_diff,
        relative_difference=mean_diff / mean_b if mean_b != 0 else float("nan"),
        ci_low=float(ci_low),
        ci_high=float(ci_high),
        confidence_level=float(confidence_level),
        pvalue=pvalue,
    )


def _paired_values(scores_a, scores_b) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(scores_a, pd.Series) and isinstance(scores_b, pd.Series):
        if not scores_a.index.is_unique or not scores_b.index.is_unique:
            raise ValueError("Each Series must hold one score per user (a unique index).")
        common = scores_a.index.intersection(scores_b.index, sort=False)
        n_only = len(scores_a) + len(scores_b) - 2 * len(common)
        if n_only:
            warnings.warn(
                f"paired_test: {n_only} users have a score from only one model and are "
                f"left out; {len(common)} users are compared. Score both models on the "
                "same test set to compare every user.",
                UserWarning,
                stacklevel=3,
            )
        scores_a, scores_b = scores_a.loc[common], scores_b.loc[common]
    a = np.asarray(scores_a, dtype=np.float64).ravel()
    b = np.asarray(scores_b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(
            f"scores_a has {a.size} values and scores_b {b.size}; paired scores need one "
            "value per user in each (pass Series indexed by user id to align them)."
        )
    keep = ~(np.isnan(a) | np.isnan(b))
    if keep.sum() < 2:
        raise ValueError(f"paired_test needs at least 2 paired scores, got {int(keep.sum())}.")
    return a[keep], b[keep]


def _bootstrap_means(diff: np.ndarray, n_resamples: int, rng) -> np.ndarray:
    """Means of ``n_resamples`` resamples (with replacement) of ``diff``."""
    means = np.empty(n_resamples)
    step = max(1, _BOOTSTRAP_CHUNK // len(diff))
    for start in range(0, n_resamples, step):
        stop = min(start + step, n_resamples)
        picks = rng.integers(0, len(diff), size=(stop - start, len(diff)))
        means[start:stop] = diff[picks].mean(axis=1)
    return means


def _wilcoxon_pvalue(diff: np.ndarray) -> float:
    if not np.any(diff != 0):
        return 1.0  # identical scores: no evidence of any difference
    return float(stats.wilcoxon(diff).pvalue)

