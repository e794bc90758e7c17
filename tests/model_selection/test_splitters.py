"""LeaveLastOut, UserRandomSplit, TemporalSplit and train_test_split_interactions."""

import warnings

import numpy as np
import pandas as pd
import pytest
from _split_doubles import make_interactions

from skllmers import InteractionData
from skllmers.model_selection import (
    DroppedTestRowsWarning,
    LeaveLastOut,
    TemporalSplit,
    UserRandomSplit,
    train_test_split_interactions,
)


def folds(cv, X):
    """All folds, with the drop warning silenced (tests of it catch it explicitly)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedTestRowsWarning)
        return list(cv.split(X))


def rows_per_user(X, positions):
    return np.bincount(X.user_codes[positions], minlength=X.n_users)


def assert_partition(X, train, test, dropped=0):
    assert train.dtype.kind == "i" and test.dtype.kind == "i"
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)  # sorted, unique
    assert len(np.intersect1d(train, test)) == 0
    assert len(train) + len(test) + dropped == len(X)


@pytest.fixture
def data():
    return make_interactions()


# ---------------------------------------------------------------------- LeaveLastOut
@pytest.mark.parametrize("n, min_train", [(1, 1), (2, 1), (2, 3)])
def test_leave_last_out_holds_out_each_users_latest_rows(data, n, min_train):
    (train, test), = folds(LeaveLastOut(n=n, min_train=min_train, drop_unseen=False,
                                        random_state=0), data)
    assert_partition(data, train, test)
    total = rows_per_user(data, np.arange(len(data)))
    eligible = total >= min_train + n
    assert 0 < eligible.sum() < data.n_users  # both kinds of users are in the data
    np.testing.assert_array_equal(rows_per_user(data, test), np.where(eligible, n, 0))
    np.testing.assert_array_equal(rows_per_user(data, train), np.where(eligible, total - n,
                                                                       total))
    for user in np.flatnonzero(eligible):
        train_times = data.timestamps[train][data.user_codes[train] == user]
        test_times = data.timestamps[test][data.user_codes[test] == user]
        assert test_times.min() >= train_times.max()  # the test rows are the latest


def test_leave_last_out_seed_decides_ties_not_item_id_or_file_order():
    """Every user's last two rows share a timestamp; which one is held out is random."""
    rng = np.random.default_rng(0)
    n_users = 300
    frames = []
    for user in range(n_users):
        first, a, b = rng.choice(50, size=3, replace=False)
        tied = [a, b] if rng.random() < 0.5 else [b, a]  # file order independent of id
        frames.append(pd.DataFrame({"user_id": user, "item_id": [first, *tied],
                                    "t": [0, 7, 7]}))
    rows = pd.concat(frames, ignore_index=True)
    X = InteractionData.from_pandas(rows, time_col="t")
    item_id = X.item_ids.to_numpy()[X.item_codes]

    def held_out(seed):
        (_, test), = folds(LeaveLastOut(random_state=seed, drop_unseen=False), X)
        return test

    test = held_out(0)
    assert len(test) == n_users
    assert np.all(X.timestamps[test] == 7)
    tied_positions = test - test % 3  # first row of each user's block of 3
    larger_id = item_id[test] == np.maximum(item_id[tied_positions + 1],
                                            item_id[tied_positions + 2])
    later_in_file = test % 3 == 2
    # Each is a fair coin over 300 users: 0.5 +- 0.029 (1 sd)
    assert 0.38 < larger_id.mean() < 0.62
    assert 0.38 < later_in_file.mean() < 0.62
    # same seed, same split; another seed holds out other rows
    np.testing.assert_array_equal(held_out(0), test)
    assert 0.3 < np.mean(held_out(1) != test) < 0.7


def test_leave_last_out_seed_types(data):
    a = folds(LeaveLastOut(random_state=np.random.RandomState(3)), data)[0][1]
    b = folds(LeaveLastOut(random_state=np.random.RandomState(3)), data)[0][1]
    np.testing.assert_array_equal(a, b)
    gen = folds(LeaveLastOut(random_state=np.random.default_rng(3)), data)[0][1]
    assert len(gen) == len(a)
    with pytest.raises(ValueError, match="random_state must be"):
        folds(LeaveLastOut(random_state="seed"), data)


def test_leave_last_out_several_folds_roll_back_in_time(data):
    cv = LeaveLastOut(n=1, n_splits=3, drop_unseen=False, random_state=0)
    assert cv.get_n_splits() == 3
    splits = folds(cv, data)
    assert len(splits) == 3
    (train0, test0), (train1, test1), (train2, test2) = splits
    assert_partition(data, train0, test0)
    # fold 1's test row is the one right before fold 0's; fold 0's row is in neither part
    for user in np.unique(data.user_codes[test1]):
        t1 = test1[data.user_codes[test1] == user]
        t0 = test0[data.user_codes[test0] == user]
        assert len(t1) == 1 and len(t0) == 1
        assert t0[0] not in train1 and t0[0] not in test1
        user_train = train1[data.user_codes[train1] == user]
        assert data.timestamps[t1].min() >= data.timestamps[user_train].max()
        assert data.timestamps[t0].min() >= data.timestamps[t1].max()
    total = rows_per_user(data, np.arange(len(data)))
    np.testing.assert_array_equal(rows_per_user(data, test2) > 0, total >= 4)
    assert len(train2) + len(test2) + np.sum(np.minimum(2, total) * (total >= 4)) == len(data)
    # same seed: fold 0 of a 3-fold split is the 1-fold split
    np.testing.assert_array_equal(folds(LeaveLastOut(drop_unseen=False, random_state=0),
                                        data)[0][1], test0)


def test_leave_last_out_without_timestamps_uses_file_order():
    rows = pd.DataFrame({"user_id": [1, 2, 1, 1, 2], "item_id": ["c", "a", "a", "b", "b"]})
    X = InteractionData.from_pandas(rows)
    with pytest.warns(UserWarning, match="no timestamps.*order of its rows as time"):
        (train, test), = LeaveLastOut(drop_unseen=False).split(X)
    assert test.tolist() == [3, 4]  # each user's last row in the file
    assert train.tolist() == [0, 1, 2]


def test_augmented_rows_are_never_test_rows(data):
    last_user_item = (data.user_codes[0], data.item_codes[0])
    X = data.with_added_rows([last_user_item[0]] * 3, [last_user_item[1]] * 3,
                             timestamps=[100, 100, 100])  # later than any real row
    for cv in (LeaveLastOut(random_state=0), UserRandomSplit(random_state=0),
               TemporalSplit(cut=0.5)):
        (train, test), = folds(cv, X)
        assert not X.augmented_mask()[test].any(), cv
        assert X.augmented_mask()[train].sum() == 3, cv


def test_drop_unseen_reports_and_drops():
    # item "z" occurs only as u1's last row; user 3's only rows are after the cut
    rows = pd.DataFrame({
        "user_id": [1, 1, 1, 2, 2, 2, 3],
        "item_id": ["a", "b", "z", "a", "b", "a", "b"],
        "t": [1, 2, 3, 1, 2, 3, 9],
    })
    X = InteractionData.from_pandas(rows, time_col="t")
    cv = LeaveLastOut(random_state=0)
    with pytest.warns(DroppedTestRowsWarning, match="dropped 1 of 2 test rows.*item \\(1 rows"):
        (train, test), = cv.split(X)
    assert test.tolist() == [5]  # u2's last row; u1's "z" is dropped
    assert train.tolist() == [0, 1, 3, 4, 6]
    assert_partition(X, train, test, dropped=1)
    assert cv.fold_stats_ == [{"fold": 0, "n_train": 5, "n_test": 1, "n_unseen_user": 0,
                               "n_unseen_item": 1, "n_dropped": 1}]
    # kept with drop_unseen=False, and still counted
    cv = LeaveLastOut(random_state=0, drop_unseen=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (train, test), = cv.split(X)
    assert test.tolist() == [2, 5]
    assert cv.fold_stats_[0]["n_unseen_item"] == 1 and cv.fold_stats_[0]["n_dropped"] == 0
    # a new user after a global cut is an unseen user
    cv = TemporalSplit(cut=3)
    with pytest.warns(DroppedTestRowsWarning, match="user \\(1 rows\\) or item \\(1 rows\\)"):
        (train, test), = cv.split(X)
    assert test.tolist() == [5]  # "z" is unseen, user 3 is unseen
    assert cv.fold_stats_[0]["n_dropped"] == 2 and cv.fold_stats_[0]["cut_time"] == 3


def test_leave_last_out_errors(data):
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        folds(LeaveLastOut(n=0), data)
    with pytest.raises(ValueError, match="min_train must be an integer >= 1"):
        folds(LeaveLastOut(min_train=0), data)
    with pytest.raises(ValueError, match="drop_unseen must be True or False"):
        folds(LeaveLastOut(drop_unseen="yes"), data)
    with pytest.raises(ValueError, match="fold 0 has no test row.* = 101 rows"):
        folds(LeaveLastOut(n=100), data)
    with pytest.raises(TypeError, match="expects an InteractionData, got DataFrame.*"
                                        "from_pandas"):
        folds(LeaveLastOut(), data.to_pandas())
    with pytest.warns(UserWarning, match="groups parameter is ignored by LeaveLastOut"):
        next(LeaveLastOut(drop_unseen=False).split(data, groups=np.zeros(len(data))))
    with pytest.raises(ValueError, match="empty InteractionData"):
        folds(LeaveLastOut(), data.take(np.array([], dtype=int)))


def test_repr_and_params():
    assert repr(LeaveLastOut(n=2, random_state=0)) == (
        "LeaveLastOut(drop_unseen=True, min_train=1, n=2, n_splits=1, random_state=0)")
    assert repr(TemporalSplit(cut=0.9)) == "TemporalSplit(cut=0.9, drop_unseen=True)"
    assert repr(UserRandomSplit()).startswith("UserRandomSplit(drop_unseen=True")
    assert UserRandomSplit(n_splits=4).get_n_splits(None, None, None) == 4
    assert TemporalSplit().get_n_splits() == 1
    assert not hasattr(LeaveLastOut(), "fold_stats_")  # __init__ stores parameters only


# ---------------------------------------------------------------------- UserRandomSplit
@pytest.mark.parametrize("test_size", [0.25, 2])
def test_user_random_split_counts(data, test_size):
    (train, test), = folds(UserRandomSplit(test_size, drop_unseen=False, random_state=0), data)
    assert_partition(data, train, test)
    total = rows_per_user(data, np.arange(len(data)))
    if isinstance(test_size, float):
        wanted = np.maximum(1, np.round(test_size * total))
    else:
        wanted = np.full_like(total, test_size)
    expected = np.where(total >= 2, np.minimum(wanted, total - 1), 0)
    np.testing.assert_array_equal(rows_per_user(data, test), expected)


def test_user_random_split_is_random_and_seeded(data):
    cv = UserRandomSplit(0.3, n_splits=2, drop_unseen=False, random_state=5)
    (_, first), (_, second) = folds(cv, data)
    assert len(first) == len(second)
    assert not np.array_equal(first, second)  # independent draws
    np.testing.assert_array_equal(folds(cv, data)[0][1], first)  # same seed, same folds
    # not the latest rows: held-out rows are spread in time
    other = folds(UserRandomSplit(0.3, drop_unseen=False, random_state=6), data)[0][1]
    assert not np.array_equal(other, first)


def test_user_random_split_errors(data):
    for bad in (0, 1.0, 1.5, -0.1, True, "a"):
        with pytest.raises(ValueError, match="test_size must be a float in \\(0, 1\\)"):
            folds(UserRandomSplit(bad), data)
    with pytest.raises(ValueError, match="n_splits must be an integer >= 1"):
        folds(UserRandomSplit(n_splits=0), data)
    with pytest.raises(ValueError, match="no user has more than min_train=100"):
        folds(UserRandomSplit(min_train=100), data)


# ---------------------------------------------------------------------- TemporalSplit
def test_temporal_split_quantile_cut():
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"user_id": rng.integers(0, 20, 1000),
                         "item_id": rng.integers(0, 10, 1000),
                         "t": rng.permutation(1000)})
    X = InteractionData.from_pandas(rows, time_col="t")
    (train, test), = folds(TemporalSplit(cut=0.8, drop_unseen=False), X)
    assert_partition(X, train, test)
    assert X.timestamps[train].max() < X.timestamps[test].min()
    assert len(test) == 200


def test_temporal_split_ties_at_the_cut_go_together(data):
    cv = TemporalSplit(cut=0.5, drop_unseen=False)
    (train, test), = folds(cv, data)
    cut = cv.fold_stats_[0]["cut_time"]
    assert np.all(data.timestamps[train] < cut) and np.all(data.timestamps[test] >= cut)


def test_temporal_split_absolute_and_datetime_cuts():
    when = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"])
    rows = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": ["a", "b", "a", "b"], "t": when})
    X = InteractionData.from_pandas(rows, time_col="t")
    for cut in ("2024-02-15", pd.Timestamp("2024-02-15"), np.datetime64("2024-02-15")):
        (train, test), = folds(TemporalSplit(cut=cut, drop_unseen=False), X)
        assert train.tolist() == [0, 1] and test.tolist() == [2, 3]
    seconds = X.take(np.arange(4))
    seconds.timestamps = np.array([10, 20, 30, 40])
    (train, test), = folds(TemporalSplit(cut=30, drop_unseen=False), seconds)
    assert test.tolist() == [2, 3]


def test_temporal_split_errors(data):
    no_time = InteractionData.from_pandas(data.to_pandas().drop(columns="timestamp"))
    with pytest.raises(ValueError, match="TemporalSplit needs timestamps"):
        folds(TemporalSplit(), no_time)
    with pytest.raises(ValueError, match="choose a cut inside that range"):
        folds(TemporalSplit(cut=10**6), data)
    with pytest.raises(ValueError, match="choose a cut inside that range"):
        folds(TemporalSplit(cut=-5), data)
    with pytest.raises(ValueError, match="cut must be a quantile"):
        folds(TemporalSplit(cut=[0.5]), data)


# ---------------------------------------------------------------------- convenience
def test_train_test_split_interactions(data):
    cv = LeaveLastOut(random_state=0)
    with pytest.warns(DroppedTestRowsWarning, match="dropped 1 of 35"):
        train, test = train_test_split_interactions(data, cv)
    (train_idx, test_idx), = folds(LeaveLastOut(random_state=0), data)
    assert len(train) == len(train_idx) and len(test) == len(test_idx)
    assert train.user_ids is data.user_ids and test.item_ids is data.item_ids
    np.testing.assert_array_equal(test.item_codes, data.item_codes[test_idx])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedTestRowsWarning)
        default_train, default_test = train_test_split_interactions(data)  # LeaveLastOut()
    per_user = np.bincount(default_test.user_codes, minlength=data.n_users)
    eligible = np.bincount(data.user_codes, minlength=data.n_users) >= 2
    assert per_user.max() == 1 and not np.any(per_user[~eligible])
    assert len(default_train) == len(data) - eligible.sum()
    with pytest.raises(TypeError, match="split\\(X\\) and get_n_splits"):
        train_test_split_interactions(data, "loo")
