"""Splitters that hold out interactions, usable as ``cv=`` in scikit-learn.

Every splitter here follows scikit-learn's cross-validator protocol (``split``,
``get_n_splits``) on an :class:`~skllmers.InteractionData` and yields integer row
positions. Three rules are shared by all of them:

* rows an enhancer added (``augmented``) are never test rows; they stay in train;
* with ``drop_unseen=True`` a test row whose user or item has no training row is
  dropped (it is in neither part), with a :class:`DroppedTestRowsWarning` and a count
  in the splitter's ``fold_stats_`` (:class:`ColdItemSplit` holds out items on
  purpose, so it drops only rows of users with no training row);
* ``y`` and ``groups`` are ignored (they exist for scikit-learn's API).
"""

from __future__ import annotations

import numbers
import warnings
from abc import abstractmethod

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator

from .._interaction_data import InteractionData

__all__ = [
    "ColdItemSplit",
    "DroppedTestRowsWarning",
    "LeaveLastOut",
    "TemporalSplit",
    "UserRandomSplit",
    "train_test_split_interactions",
]


class DroppedTestRowsWarning(UserWarning):
    """A splitter dropped test rows whose user or item has no training row.

    Filter it with ``warnings.simplefilter("ignore", DroppedTestRowsWarning)`` once the
    counts are known; they stay available in the splitter's ``fold_stats_``.

    Examples
    --------
    >>> from skllmers.model_selection import DroppedTestRowsWarning
    >>> issubclass(DroppedTestRowsWarning, UserWarning)
    True
    """


class _InteractionSplitter(BaseCrossValidator):
    """Shared driver: validate ``X``, build folds, drop unseen test rows, keep stats."""

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of folds, ``n_splits``; the arguments are ignored.

        Examples
        --------
        >>> from skllmers.model_selection import LeaveLastOut
        >>> LeaveLastOut(n_splits=2).get_n_splits()
        2
        """
        _check_int(self.n_splits, "n_splits", 1)
        return int(self.n_splits)

    def split(self, X, y=None, groups=None):
        """Generate ``(train, test)`` row positions of ``X`` for each fold.

        Parameters
        ----------
        X : InteractionData
            The interactions to split.
        y : None
            Ignored; present for scikit-learn's API.
        groups : None
            Ignored (with a warning when given): the splitter groups rows by user.

        Yields
        ------
        train : ndarray of int64
            Positions of the training rows, ascending.
        test : ndarray of int64
            Positions of the test rows, ascending. Disjoint from ``train``.
        """
        X = _check_split_input(X, type(self).__name__)
        if groups is not None:
            warnings.warn(f"The groups parameter is ignored by {type(self).__name__}: it "
                          "splits each user's rows itself.", UserWarning, stacklevel=2)
        self._check_params()
        self.fold_stats_ = []
        for fold, (train, test, extra) in enumerate(self._iter_folds(X)):
            train, test, stats = self._finish_fold(X, train, test, fold)
            stats.update(extra)
            self.fold_stats_.append(stats)
            yield train, test

    def _finish_fold(self, X, train, test, fold):
        unseen_user, unseen_item = _unseen_in_train(X, train, test)
        unseen = unseen_user | unseen_item
        stats = {
            "fold": fold,
            "n_train": len(train),
            "n_test": len(test),
            "n_unseen_user": int(unseen_user.sum()),
            "n_unseen_item": int(unseen_item.sum()),
            "n_dropped": 0,
        }
        if self.drop_unseen and unseen.any():
            stats["n_dropped"] = int(unseen.sum())
            stats["n_test"] = int(len(test) - unseen.sum())
            self._warn_dropped(fold, stats, len(test))
            test = test[~unseen]
        return train, test, stats

    def _warn_dropped(self, fold, stats, n_test_before):
        warnings.warn(
            f"{type(self).__name__} fold {fold}: dropped {stats['n_dropped']} of "
            f"{n_test_before} test rows whose user ({stats['n_unseen_user']} rows) or item "
            f"({stats['n_unseen_item']} rows) has no training row, since no model can rank "
            "them. Pass drop_unseen=False to keep them; the counts of every fold are in "
            "the splitter's fold_stats_.",
            DroppedTestRowsWarning,
            stacklevel=4,
        )

    @abstractmethod
    def _iter_folds(self, X: InteractionData):
        """Yield ``(train, test, extra_stats)`` per fold, before unseen rows are dropped."""

    @abstractmethod
    def _check_params(self) -> None:
        """Raise a clear error for an invalid parameter."""


class LeaveLastOut(_InteractionSplitter):
    """Hold out each user's last ``n`` interactions by time.

    For every user with at least ``min_train + n`` rows, the ``n`` latest rows are test
    rows and the earlier ones training rows. Users with fewer rows stay entirely in
    train: they still teach the model, but cannot be evaluated.

    **Ties in time.** Rows of a user that share a timestamp have no order, yet "last"
    must pick one. Sorting by item id (or file order) would always hold out the item
    with the larger id, and a sequential model would learn that order. Ties are
    therefore broken by a random key drawn from ``random_state``: the same seed gives
    the same split, another seed may hold out another of the tied rows.

    **No timestamps.** Without ``timestamps`` the order of the rows in ``X`` is taken
    as time (the user's last rows in ``X`` are held out), with a ``UserWarning``.

    Parameters
    ----------
    n : int, default=1
        Test rows per user and fold.
    n_splits : int, default=1
        Number of folds. Fold ``i`` (``0`` = latest) tests the ``n`` rows that come
        ``i * n`` rows before each user's end and trains on the rows before them; the
        user's rows after the test window are in neither part, so no fold trains on
        the future of its test rows. A user takes part in fold ``i`` when it has at
        least ``min_train + (i + 1) * n`` rows, and is otherwise entirely in train.
    min_train : int, default=1
        Fewest training rows a user must keep to get test rows.
    drop_unseen : bool, default=True
        With ``True`` (the default), a test row is dropped — it is then in neither
        train nor test — when its item has no training row in that fold (an item all
        of whose rows are held out or lie in the excluded future window, i.e. a cold
        item) or its user has none (which ``min_train >= 1`` rules out here). A
        :class:`DroppedTestRowsWarning` gives the count; the counts of each fold are
        in ``fold_stats_`` (``n_unseen_item``, ``n_unseen_user``, ``n_dropped``).
        Nothing else is dropped: test items the user also had in training stay test
        rows (the metrics leave them out of the relevant set). With ``False`` the rows
        of cold items stay test rows; such an item still has a code (the id maps are
        shared), so a model that scores items from their text can rank it. To
        evaluate cold items on purpose, use :class:`ColdItemSplit` and
        ``evaluate(..., candidates="cold")``.
    random_state : int, numpy Generator or RandomState, default=None
        Seed of the tie-break. ``None`` draws a fresh one at each ``split`` call; pass
        an int for a reproducible split.

    Attributes
    ----------
    fold_stats_ : list of dict
        Set by :meth:`split`, one dict per fold: ``fold``, ``n_train``, ``n_test``
        (after dropping), ``n_unseen_user``, ``n_unseen_item`` (test rows whose user /
        item has no training row, before dropping) and ``n_dropped``.

    See Also
    --------
    TemporalSplit : one global time cut for all users.
    UserRandomSplit : a random share of each user's rows.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.model_selection import LeaveLastOut
    >>> df = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 3],
    ...                    "item_id": ["a", "b", "c", "a", "b", "c"],
    ...                    "t": [1, 2, 3, 5, 4, 1]})
    >>> X = InteractionData.from_pandas(df, time_col="t")
    >>> cv = LeaveLastOut(random_state=0)
    >>> cv
    LeaveLastOut(drop_unseen=True, min_train=1, n=1, n_splits=1, random_state=0)
    >>> train, test = next(cv.split(X))
    >>> X.take(test).to_pandas()
       user_id item_id  timestamp
    0        1       c          3
    1        2       a          5
    >>> train
    array([0, 1, 4, 5])
    """

    def __init__(self, n=1, *, n_splits=1, min_train=1, drop_unseen=True, random_state=None):
        self.n = n
        self.n_splits = n_splits
        self.min_train = min_train
        self.drop_unseen = drop_unseen
        self.random_state = random_state

    def _check_params(self):
        _check_int(self.n, "n", 1)
        _check_int(self.n_splits, "n_splits", 1)
        _check_int(self.min_train, "min_train", 1)
        _check_bool(self.drop_unseen, "drop_unseen")

    def _iter_folds(self, X):
        if X.timestamps is None:
            warnings.warn(
                "X has no timestamps, so LeaveLastOut takes the order of its rows as time "
                "and holds out each user's last rows in X. Build X with "
                "InteractionData.from_pandas(..., time_col=...) to split by time.",
                UserWarning,
                stacklevel=3,
            )
        order = X.time_order(_as_seed(self.random_state))
        order = order[~X.augmented_mask()[order]]
        rank, count = _rank_within_user(X.user_codes[order])
        from_end = count - 1 - rank
        n, n_rows = int(self.n), len(X)
        for fold in range(int(self.n_splits)):
            eligible = count >= int(self.min_train) + (fold + 1) * n
            in_window = (from_end >= fold * n) & (from_end < (fold + 1) * n)
            test = np.sort(order[eligible & in_window])
            if len(test) == 0:
                raise ValueError(
                    f"LeaveLastOut fold {fold} has no test row: no user has at least "
                    f"min_train + (fold + 1) * n = {int(self.min_train) + (fold + 1) * n} "
                    "rows. Lower n, min_train or n_splits."
                )
            future = order[eligible & (from_end < fold * n)]
            yield _complement(n_rows, test, future), test, {}


class UserRandomSplit(_InteractionSplitter):
    """Hold out a random share of each user's interactions.

    Each user with more than ``min_train`` rows gets ``round(test_size * n_rows)`` test
    rows (at least one, leaving at least ``min_train`` in train), chosen at random.
    Users with fewer rows stay entirely in train. Each fold is an independent draw, as
    in :class:`sklearn.model_selection.ShuffleSplit`, so test sets of different folds
    may overlap.

    Parameters
    ----------
    test_size : float or int, default=0.2
        A float in (0, 1) is the share of each user's rows to hold out; an int >= 1 is
        the number of rows per user.
    n_splits : int, default=1
        Number of independent random draws.
    min_train : int, default=1
        Fewest training rows a user must keep to get test rows.
    drop_unseen : bool, default=True
        Drop test rows whose item (or user) has no training row (see
        :class:`LeaveLastOut`).
    random_state : int, numpy Generator or RandomState, default=None
        Seed of the draws. ``None`` gives different folds at each ``split`` call.

    Attributes
    ----------
    fold_stats_ : list of dict
        Set by :meth:`split`, as in :class:`LeaveLastOut`.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.model_selection import UserRandomSplit
    >>> df = pd.DataFrame({"user_id": [1] * 5 + [2] * 5,
    ...                    "item_id": list("abcde") + list("abcde")})
    >>> X = InteractionData.from_pandas(df)
    >>> cv = UserRandomSplit(test_size=0.4, drop_unseen=False, random_state=0)
    >>> train, test = next(cv.split(X))
    >>> len(train), len(test)
    (6, 4)
    >>> X.take(test).to_pandas()["user_id"].value_counts().sort_index().tolist()
    [2, 2]
    """

    def __init__(self, test_size=0.2, *, n_splits=1, min_train=1, drop_unseen=True,
                 random_state=None):
        self.test_size = test_size
        self.n_splits = n_splits
        self.min_train = min_train
        self.drop_unseen = drop_unseen
        self.random_state = random_state

    def _check_params(self):
        _check_test_size(self.test_size)
        _check_int(self.n_splits, "n_splits", 1)
        _check_int(self.min_train, "min_train", 1)
        _check_bool(self.drop_unseen, "drop_unseen")

    def _n_test_per_row(self, count):
        """Test rows wanted for the user of each row, given the user's row count."""
        if isinstance(self.test_size, numbers.Integral):
            wanted = np.full_like(count, int(self.test_size))
        else:
            wanted = np.maximum(1, np.round(self.test_size * count)).astype(count.dtype)
        return np.clip(np.minimum(wanted, count - int(self.min_train)), 0, None)

    def _iter_folds(self, X):
        rng = np.random.default_rng(_as_seed(self.random_state))
        real = np.flatnonzero(~X.augmented_mask())
        for fold in range(int(self.n_splits)):
            order = real[np.lexsort((rng.random(len(real)), X.user_codes[real]))]
            rank, count = _rank_within_user(X.user_codes[order])
            test = np.sort(order[rank < self._n_test_per_row(count)])
            if len(test) == 0:
                raise ValueError(
                    f"UserRandomSplit fold {fold} has no test row: no user has more than "
                    f"min_train={self.min_train} rows. Lower min_train."
                )
            yield _complement(len(X), test), test, {}


class TemporalSplit(_InteractionSplitter):
    """Split all users at one global time: earlier rows train, later rows test.

    Rows with ``timestamp < cut_time`` are training rows, the others test rows, so the
    model never sees anything that happened after a test interaction. Test users with
    no row before the cut are new users; with ``drop_unseen=True`` their rows are
    dropped, as are rows of items first seen after the cut.

    Parameters
    ----------
    cut : float, int, or datetime-like, default=0.8
        A float strictly between 0 and 1 is a quantile of the (non-augmented) rows'
        times: ``0.8`` puts about 80% of the rows in train (rows tied at the cut time
        all go to test). Any other number is a timestamp in the unit of
        ``X.timestamps``. A datetime-like (``pandas.Timestamp``, ``numpy.datetime64``,
        ISO string) is compared with data built from a datetime column, which
        :class:`~skllmers.InteractionData` stores as int64 nanoseconds.
    drop_unseen : bool, default=True
        Drop test rows whose user or item has no training row (see
        :class:`LeaveLastOut`).

    Attributes
    ----------
    fold_stats_ : list of dict
        Set by :meth:`split`, as in :class:`LeaveLastOut`, plus ``cut_time``: the
        timestamp that separates the parts.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.model_selection import TemporalSplit
    >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": ["a", "b", "a", "b", "a"],
    ...                    "t": [1, 2, 3, 4, 5]})
    >>> X = InteractionData.from_pandas(df, time_col="t")
    >>> cv = TemporalSplit(cut=4)
    >>> train, test = next(cv.split(X))  # user 3 is new after the cut: dropped
    >>> train.tolist(), test.tolist(), cv.fold_stats_[0]["n_dropped"]
    ([0, 1, 2], [3], 1)
    """

    def __init__(self, cut=0.8, *, drop_unseen=True):
        self.cut = cut
        self.drop_unseen = drop_unseen

    def get_n_splits(self, X=None, y=None, groups=None):
        """Always 1: one cut gives one fold.

        Examples
        --------
        >>> from skllmers.model_selection import TemporalSplit
        >>> TemporalSplit().get_n_splits()
        1
        """
        return 1

    def _check_params(self):
        _check_bool(self.drop_unseen, "drop_unseen")

    def _iter_folds(self, X):
        if X.timestamps is None:
            raise ValueError(
                "TemporalSplit needs timestamps, and X has none. Build X with "
                "InteractionData.from_pandas(..., time_col=...), or use LeaveLastOut, "
                "which takes the row order as time."
            )
        real = ~X.augmented_mask()
        cut_time = _cut_time(self.cut, X.timestamps[real])
        test = np.flatnonzero(real & (X.timestamps >= cut_time))
        train = _complement(len(X), test)
        if len(test) == 0 or not real[train].any():
            raise ValueError(
                f"TemporalSplit(cut={self.cut!r}) puts {len(test)} rows in test and "
                f"{len(train)} in train (times run from {X.timestamps[real].min()} to "
                f"{X.timestamps[real].max()}); choose a cut inside that range."
            )
        yield train, test, {"cut_time": cut_time}


class ColdItemSplit(_InteractionSplitter):
    """Hold out whole items: every interaction of a random share of the items is a test row.

    The held-out items are *cold* in training: they keep their code in the id maps and
    their row of the items table (and of every artifact), so their text reaches the
    model, but they have no training row. A model can then only rank them from what
    it knows of them besides interactions — their text. Evaluate with
    ``evaluate(model, train, test, candidates="cold")``, which ranks among the items
    with no training row (see :func:`skllmers.metrics.evaluate`). As ``cv=`` of
    ``GridSearchCV``, pass ``scoring=make_rank_scorer(candidates="cold")``: a
    recommender's own ``score`` ranks the whole catalogue, where cold items mostly
    come last.

    Items are drawn uniformly among those with at least one real (not augmented) row,
    so a popular item is as likely to be held out as a rare one. Rows an enhancer added
    for a held-out item are in neither part (in train they would make the item warm);
    those of the other items stay in train.

    Parameters
    ----------
    test_size : float or int, default=0.2
        A float in (0, 1) is the share of the items (with rows) to hold out, rounded,
        at least one; an int >= 1 is the number of items.
    n_splits : int, default=1
        Number of independent random draws, as in
        :class:`sklearn.model_selection.ShuffleSplit`: the held-out items of different
        folds may overlap.
    drop_unseen : bool, default=True
        Drop test rows whose *user* has no training row (a user who interacted only
        with held-out items; a model knows nothing of that user). The items of the test
        rows have no training row by design and are never the reason for a drop. A
        :class:`DroppedTestRowsWarning` gives the count.
    random_state : int, numpy Generator or RandomState, default=None
        Seed of the draws. ``None`` gives different folds at each ``split`` call.

    Attributes
    ----------
    fold_stats_ : list of dict
        Set by :meth:`split`, one dict per fold, as in :class:`LeaveLastOut`, plus
        ``n_cold_items`` (items held out) and ``n_augmented_dropped`` (augmented rows of
        held-out items, in neither part).

    See Also
    --------
    LeaveLastOut : hold out each user's latest interactions (warm items).
    skllmers.metrics.evaluate : ``candidates="cold"`` ranks among the cold items only.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.model_selection import ColdItemSplit
    >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2, 3, 3, 3],
    ...                    "item_id": ["a", "b", "a", "c", "b", "c", "d"]})
    >>> X = InteractionData.from_pandas(df)
    >>> cv = ColdItemSplit(test_size=0.25, random_state=1)
    >>> train, test = next(cv.split(X))
    >>> X.take(test).to_pandas()
       user_id item_id
    0        1       b
    1        3       b
    >>> sorted(set(X.take(train).to_pandas()["item_id"]))
    ['a', 'c', 'd']
    >>> cv.fold_stats_[0]["n_cold_items"], X.take(train).n_items  # b keeps its code
    (1, 4)
    """

    def __init__(self, test_size=0.2, *, n_splits=1, drop_unseen=True, random_state=None):
        self.test_size = test_size
        self.n_splits = n_splits
        self.drop_unseen = drop_unseen
        self.random_state = random_state

    def _check_params(self):
        _check_item_test_size(self.test_size)
        _check_int(self.n_splits, "n_splits", 1)
        _check_bool(self.drop_unseen, "drop_unseen")

    def _n_cold(self, n_items_with_rows: int) -> int:
        if isinstance(self.test_size, numbers.Integral):
            wanted = int(self.test_size)
        else:
            wanted = max(1, int(round(self.test_size * n_items_with_rows)))
        if wanted >= n_items_with_rows:
            raise ValueError(
                f"ColdItemSplit(test_size={self.test_size!r}) would hold out {wanted} of "
                f"the {n_items_with_rows} items that have rows, leaving none to train "
                "on; lower test_size."
            )
        return wanted

    def _iter_folds(self, X):
        rng = np.random.default_rng(_as_seed(self.random_state))
        augmented = X.augmented_mask()
        items_with_rows = np.flatnonzero(
            np.bincount(X.item_codes[~augmented], minlength=X.n_items) > 0)
        n_cold = self._n_cold(len(items_with_rows))
        for _ in range(int(self.n_splits)):
            cold = np.zeros(X.n_items, bool)
            cold[rng.choice(items_with_rows, n_cold, replace=False)] = True
            of_cold = cold[X.item_codes]
            test = np.flatnonzero(of_cold & ~augmented)
            train = np.flatnonzero(~of_cold)
            yield train, test, {"n_cold_items": n_cold,
                                "n_augmented_dropped": int((of_cold & augmented).sum())}

    def _finish_fold(self, X, train, test, fold):
        unseen_user, unseen_item = _unseen_in_train(X, train, test)
        stats = {
            "fold": fold,
            "n_train": len(train),
            "n_test": len(test),
            "n_unseen_user": int(unseen_user.sum()),
            "n_unseen_item": int(unseen_item.sum()),
            "n_dropped": 0,
        }
        if self.drop_unseen and unseen_user.any():
            stats["n_dropped"] = int(unseen_user.sum())
            stats["n_test"] = int(len(test) - unseen_user.sum())
            warnings.warn(
                f"ColdItemSplit fold {fold}: dropped {stats['n_dropped']} of {len(test)} "
                "test rows whose user has no training row (the user interacted only with "
                "held-out items), since no model knows that user. Pass drop_unseen=False "
                "to keep them; the counts of every fold are in the splitter's "
                "fold_stats_.",
                DroppedTestRowsWarning,
                stacklevel=4,
            )
            test = test[~unseen_user]
        return train, test, stats


def train_test_split_interactions(X, splitter=None):
    """Split ``X`` once into training and test interactions.

    Parameters
    ----------
    X : InteractionData
        The interactions to split.
    splitter : cross-validator, default=None
        Any splitter of this module (or another scikit-learn cross-validator that
        accepts an InteractionData); its first fold is used. ``None`` means ``LeaveLastOut()``, whose ties are broken with a
        fresh seed: pass ``LeaveLastOut(random_state=0)`` for a reproducible split.

    Returns
    -------
    train, test : InteractionData
        Row views of ``X``; they share its id maps, side tables and artifacts.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.model_selection import LeaveLastOut, train_test_split_interactions
    >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": ["a", "b", "b", "a"],
    ...                    "t": [1, 2, 1, 2]})
    >>> X = InteractionData.from_pandas(df, time_col="t")
    >>> train, test = train_test_split_interactions(X, LeaveLastOut(random_state=0))
    >>> len(train), len(test), test.item_ids is X.item_ids
    (2, 2, True)
    """
    splitter = LeaveLastOut() if splitter is None else splitter
    if not (hasattr(splitter, "split") and hasattr(splitter, "get_n_splits")):
        raise TypeError(
            f"splitter must be a cross-validator with split(X) and get_n_splits() (e.g. "
            f"LeaveLastOut()), got {type(splitter).__name__}."
        )
    folds = splitter.split(X)
    try:
        train, test = next(folds)
    except StopIteration:
        raise ValueError(f"{splitter!r} produced no fold for X.") from None
    folds.close()
    return X.take(train), X.take(test)


# ---------------------------------------------------------------------- helpers
def _check_split_input(X, name: str) -> InteractionData:
    if not isinstance(X, InteractionData):
        hint = (" Build one with InteractionData.from_pandas(df, user_col=..., item_col=...)."
                if isinstance(X, pd.DataFrame) else "")
        raise TypeError(f"{name}.split() expects an InteractionData, got "
                        f"{type(X).__name__}.{hint}")
    if len(X) == 0:
        raise ValueError(f"{name}.split() got an empty InteractionData (0 rows).")
    return X


def _check_int(value, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def _check_bool(value, name: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}.")


def _check_test_size(test_size) -> None:
    if isinstance(test_size, bool):
        valid = False
    elif isinstance(test_size, numbers.Integral):
        valid = test_size >= 1
    elif isinstance(test_size, numbers.Real):
        valid = 0 < test_size < 1
    else:
        valid = False
    if not valid:
        raise ValueError(
            "test_size must be a float in (0, 1) (share of each user's rows) or an int "
            f">= 1 (rows per user), got {test_size!r}."
        )


def _check_item_test_size(test_size) -> None:
    if isinstance(test_size, bool):
        valid = False
    elif isinstance(test_size, numbers.Integral):
        valid = test_size >= 1
    elif isinstance(test_size, numbers.Real):
        valid = 0 < test_size < 1
    else:
        valid = False
    if not valid:
        raise ValueError(
            "test_size must be a float in (0, 1) (share of the items to hold out) or an "
            f"int >= 1 (number of items), got {test_size!r}."
        )


def _as_seed(random_state):
    """What ``numpy.random.default_rng`` accepts; a legacy RandomState gives an int."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if random_state is None or isinstance(random_state, (numbers.Integral,
                                                         np.random.Generator,
                                                         np.random.SeedSequence)):
        return random_state
    raise ValueError(
        "random_state must be None, an int, a numpy Generator or a RandomState, got "
        f"{random_state!r}."
    )


def _rank_within_user(sorted_users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows grouped by user: each row's position in its group, and the group size."""
    n = len(sorted_users)
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]]) if n else \
        np.empty(0, np.int64)
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)
    return rank, np.repeat(sizes, sizes)


def _complement(n_rows: int, *excluded: np.ndarray) -> np.ndarray:
    keep = np.ones(n_rows, bool)
    for rows in excluded:
        keep[rows] = False
    return np.flatnonzero(keep)


def _unseen_in_train(X, train, test) -> tuple[np.ndarray, np.ndarray]:
    """Masks over ``test``: is the row's user / item absent from the training rows?"""
    seen_users = np.bincount(X.user_codes[train], minlength=X.n_users) > 0
    seen_items = np.bincount(X.item_codes[train], minlength=X.n_items) > 0
    return ~seen_users[X.user_codes[test]], ~seen_items[X.item_codes[test]]


def _cut_time(cut, times: np.ndarray):
    if isinstance(cut, (str, pd.Timestamp, np.datetime64)) or hasattr(cut, "isoformat"):
        stamp = pd.Timestamp(cut)
        if times.dtype.kind == "M":
            return stamp.to_datetime64()
        return stamp.as_unit("ns").value
    if isinstance(cut, bool) or not isinstance(cut, numbers.Real):
        raise ValueError(
            "cut must be a quantile in (0, 1), a timestamp, or a datetime-like, got "
            f"{cut!r}."
        )
    if isinstance(cut, numbers.Integral) or not 0 < cut < 1:
        return cut
    position = int(np.ceil(cut * (len(times) - 1)))  # numpy's quantile, method="higher"
    cut_time = np.partition(times, position)[position]
    return cut_time.item() if times.dtype.kind in "iuf" else cut_time
