"""ColdItemSplit: every interaction of a sampled share of the items goes to test."""

import warnings

import numpy as np
import pandas as pd
import pytest
from _split_doubles import make_interactions
from sklearn.model_selection import cross_validate

from skllmers import InteractionData
from skllmers.model_selection import (
    ColdItemSplit,
    DroppedTestRowsWarning,
    LeaveLastOut,
    train_test_split_interactions,
)
from skllmers.recommenders import PopularityRecommender


def quiet_folds(cv, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedTestRowsWarning)
        return list(cv.split(X))


@pytest.fixture
def data():
    return make_interactions(n_users=60, n_items=80, max_rows=20)


@pytest.mark.parametrize("test_size", [0.25, 7])
def test_whole_items_are_held_out(data, test_size):
    cv = ColdItemSplit(test_size=test_size, drop_unseen=False, random_state=0)
    ((train, test),) = quiet_folds(cv, data)
    assert len(train) + len(test) == len(data)
    assert len(np.intersect1d(train, test)) == 0
    test_items = np.unique(data.item_codes[test])
    assert not np.isin(data.item_codes[train], test_items).any()  # no row of them in train
    n_with_rows = len(np.unique(data.item_codes))
    expected = test_size if isinstance(test_size, int) else round(test_size * n_with_rows)
    assert len(test_items) == cv.fold_stats_[0]["n_cold_items"] == expected


def test_cold_items_keep_their_codes_and_side_rows(data):
    items = pd.DataFrame({"title": [f"t{c}" for c in data.item_ids]}, index=data.item_ids)
    data = InteractionData(data.user_codes, data.item_codes, user_ids=data.user_ids,
                           item_ids=data.item_ids, timestamps=data.timestamps, items=items)
    train, test = train_test_split_interactions(data, ColdItemSplit(random_state=0))
    assert train.item_ids is data.item_ids and train.items is data.items
    cold = np.unique(test.item_codes)
    assert (np.bincount(train.item_codes, minlength=data.n_items)[cold] == 0).all()
    assert train.item_text(["title"]).iloc[cold].str.startswith("t").all()


def test_seeded_random_and_independent_folds(data):
    def cold_sets(seed, n_splits=1):
        folds = quiet_folds(ColdItemSplit(n_splits=n_splits, random_state=seed), data)
        return [frozenset(data.item_codes[test]) for _, test in folds]

    assert cold_sets(0) == cold_sets(0)
    assert cold_sets(0) != cold_sets(1)
    first, second = cold_sets(0, n_splits=2)
    assert first != second
    assert ColdItemSplit(n_splits=4).get_n_splits() == 4


def test_sampling_ignores_popularity(data):
    """Popular and rare items are held out alike: mean held-out rows per item is the
    mean rows per item over many draws."""
    counts = np.bincount(data.item_codes, minlength=data.n_items)
    counts = counts[counts > 0]
    drawn = []
    for seed in range(200):
        ((_, test),) = quiet_folds(ColdItemSplit(test_size=0.1, drop_unseen=False,
                                                 random_state=seed), data)
        drawn.append(len(test) / len(np.unique(data.item_codes[test])))
    assert np.mean(drawn) == pytest.approx(counts.mean(), rel=0.1)


def test_drop_unseen_drops_users_without_training_rows():
    # u3 only has item c; holding out c leaves u3 with no training row.
    frame = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2", "u3"],
                          "item_id": ["a", "c", "a", "b", "c"]})
    data = InteractionData.from_pandas(frame)
    seed = next(s for s in range(50)
                if data.item_ids[data.item_codes[next(ColdItemSplit(
                    1, drop_unseen=False, random_state=s).split(data))[1]]][0] == "c")
    cv = ColdItemSplit(1, random_state=seed)
    with pytest.warns(DroppedTestRowsWarning, match="1 of 2 test rows whose user"):
        train, test = next(cv.split(data))
    assert data.take(test).to_pandas()["user_id"].tolist() == ["u1"]
    assert cv.fold_stats_[0]["n_dropped"] == 1 and cv.fold_stats_[0]["n_unseen_user"] == 1
    assert cv.fold_stats_[0]["n_unseen_item"] == 2  # cold by design, never a drop reason


def test_augmented_rows_of_held_out_items_are_in_neither_part(data):
    augmented = data.with_added_rows(np.arange(40), np.tile([0, 1], 20), weight=0.5)
    cv = ColdItemSplit(test_size=0.3, drop_unseen=False, random_state=3)
    ((train, test),) = quiet_folds(cv, augmented)
    mask = augmented.augmented_mask()
    assert not mask[test].any()
    cold = np.unique(augmented.item_codes[test])
    assert not np.isin(augmented.item_codes[train], cold).any()
    in_neither = len(augmented) - len(train) - len(test)
    assert in_neither == cv.fold_stats_[0]["n_augmented_dropped"]
    assert in_neither == int((mask & np.isin(augmented.item_codes, cold)).sum())
    assert mask[train].sum() == mask.sum() - in_neither  # the others stay in train


@pytest.mark.parametrize("kwargs, match", [
    ({"test_size": 0.0}, "test_size must be"),
    ({"test_size": 1.5}, "test_size must be"),
    ({"test_size": True}, "test_size must be"),
    ({"test_size": 10_000}, "leaving none to train on"),
    ({"n_splits": 0}, "n_splits must be"),
    ({"drop_unseen": "yes"}, "drop_unseen must be"),
])
def test_errors(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        next(ColdItemSplit(**kwargs).split(data))


def test_is_a_scikit_learn_cv_object(data):
    cv = ColdItemSplit(test_size=0.2, n_splits=2, random_state=0)
    assert repr(cv) == ("ColdItemSplit(drop_unseen=True, n_splits=2, random_state=0, "
                        "test_size=0.2)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedTestRowsWarning)
        warnings.simplefilter("ignore", UserWarning)
        result = cross_validate(PopularityRecommender(), data, cv=cv)
    assert len(result["test_score"]) == 2


def test_leave_last_out_documents_what_drop_unseen_removes():
    doc = LeaveLastOut.__doc__
    assert "drop_unseen : bool, default=True" in doc
    assert "neither" in doc and "cold item" in doc
