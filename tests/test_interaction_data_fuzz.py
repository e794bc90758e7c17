"""Fuzzing ``InteractionData.from_pandas``: every input gives a valid object or a clear error.

Hypothesis draws interaction frames with ids of every dtype (int, huge int, uint64, str,
float with NaN and inf, mixed objects, categorical), ratings / weights / times with NaN
and inf (times also as datetimes with NaT), repeated pairs under each duplicate policy,
empty frames, and side tables that repeat, miss or add ids. The outcome is either an
``InteractionData`` that keeps every invariant of the contract, or a ``ValueError`` /
``TypeError`` (anything else, or a silently wrong object, fails).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skllmers import InteractionData

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

_huge = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_ID_POOLS = {
    "int": st.integers(min_value=-5, max_value=30),
    "huge_int": _huge,
    "uint64": st.integers(min_value=2**63, max_value=2**64 - 1),
    "str": st.text(max_size=3),
    "float": st.floats(allow_nan=True, allow_infinity=True, width=64),
    "mixed": st.one_of(st.integers(-3, 3), st.text(max_size=2), st.none(), st.booleans(),
                       st.floats(allow_nan=True), st.integers(2**64, 2**70)),
    "categorical": st.sampled_from(["a", "b", "c", "d"]),
    "tuple": st.tuples(st.integers(0, 2), st.text(max_size=1)),
    "unhashable": st.lists(st.integers(0, 2), max_size=2),
}
_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(-10, 10),
)


@st.composite
def id_columns(draw, n: int):
    """``(kind, values)``: ``n`` ids of one dtype family, often repeated."""
    kind = draw(st.sampled_from(sorted(_ID_POOLS)))
    pool = draw(st.lists(_ID_POOLS[kind], min_size=1, max_size=6))
    values = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    return kind, values


def as_series(kind: str, values) -> pd.Series:
    if kind == "categorical":
        return pd.Series(pd.Categorical(values, categories=["a", "b", "c", "d", "unused"]))
    if kind == "mixed":
        return pd.Series(values, dtype=object)
    if kind == "uint64":
        return pd.Series(np.array(values, dtype=np.uint64))
    return pd.Series(values)


@st.composite
def value_columns(draw, n: int):
    """A rating / weight / time column, or None."""
    kind = draw(st.sampled_from(["none", "none", "float", "int", "positive", "numeric_str",
                                 "mixed", "datetime", "datetime_tz", "timedelta"]))
    if kind == "none":
        return None
    if kind == "positive":
        return pd.Series(draw(st.lists(st.floats(0, 1e6), min_size=n, max_size=n)), dtype=float)
    if kind == "int":
        return pd.Series(draw(st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n)),
                         dtype=np.int64)
    if kind == "float":
        return pd.Series(draw(st.lists(_NUMBERS, min_size=n, max_size=n)), dtype=float)
    if kind == "numeric_str":
        return pd.Series([str(v) for v in draw(st.lists(_NUMBERS, min_size=n, max_size=n))],
                         dtype=object)
    if kind == "mixed":
        return pd.Series(draw(st.lists(st.one_of(_NUMBERS, st.text(max_size=2), st.none()),
                                       min_size=n, max_size=n)), dtype=object)
    seconds = draw(st.lists(st.one_of(st.integers(0, 2**31), st.none()), min_size=n,
                            max_size=n))
    seconds = pd.Series(seconds, dtype=object)
    if kind == "timedelta":
        return pd.to_timedelta(seconds, unit="s")
    return pd.to_datetime(seconds, unit="s", utc=kind == "datetime_tz")


@st.composite
def inputs(draw):
    n = 0 if draw(st.integers(0, 9)) == 0 else draw(st.integers(min_value=1, max_value=12))
    user_kind, users = draw(id_columns(n))
    item_kind, items = draw(id_columns(n))
    frame = pd.DataFrame({"user_id": as_series(user_kind, users),
                          "item_id": as_series(item_kind, items)})
    names = {}
    for role in ("rating", "time", "weight"):
        column = draw(value_columns(n))
        if column is not None:
            frame[role] = column.to_numpy() if len(column) else column
            names[f"{role}_col"] = role
    side = None
    if draw(st.booleans()) and n and item_kind != "unhashable":
        known = list(dict.fromkeys(v for v in items if not _missing(v)))
        extra = draw(st.lists(_ID_POOLS[item_kind], max_size=2))
        ids = draw(st.lists(st.sampled_from(known + extra or [0]), max_size=8))
        side = pd.DataFrame({"item_id": ids, "title": [f"t{i}" for i in range(len(ids))]})
    duplicates = draw(st.sampled_from(["keep", "sum", "last", "error"]))
    return frame, side, names, duplicates


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def check_invariants(data: InteractionData, frame, side, names, duplicates):
    n = len(data)
    assert data.shape == (n,) and len(data.user_codes) == len(data.item_codes) == n
    for column in (data.ratings, data.timestamps, data.weights, data.augmented):
        assert column is None or column.shape == (n,)
    assert data.user_ids.is_unique and data.item_ids.is_unique
    for codes, size in ((data.user_codes, data.n_users), (data.item_codes, data.n_items)):
        assert codes.dtype == np.int32 and (n == 0 or (codes.min() >= 0 and codes.max() < size))
    for column in (data.ratings, data.weights):
        assert column is None or np.isfinite(column).all()
    if data.timestamps is not None:
        assert np.issubdtype(data.timestamps.dtype, np.number)
        assert np.isfinite(data.timestamps.astype(float)).all()
    if data.weights is not None:
        assert (data.weights >= 0).all()
    # the rows are the input's rows (all of them, or one per pair after merging)
    back = data.to_pandas()
    pairs_in = list(zip(frame["user_id"], frame["item_id"], strict=True))
    pairs_out = list(zip(back["user_id"], back["item_id"], strict=True))
    if duplicates == "keep":
        assert pairs_out == pairs_in
    else:
        assert len(set(pairs_out)) == len(pairs_out) == len(set(pairs_in))
        assert set(pairs_out) == set(pairs_in)
    # the side table is aligned: code c's row describes item c
    if side is not None:
        assert data.items.index.equals(data.item_ids)
        titles = side.set_index("item_id")["title"]
        for code, item_id in enumerate(data.item_ids):
            expected = titles.get(item_id, np.nan) if item_id in titles.index else np.nan
            got = data.items["title"].iloc[code]
            assert (pd.isna(expected) and pd.isna(got)) or got == expected
        assert set(titles.index) <= set(data.item_ids)  # side-table-only ids are cold items


@SETTINGS
@given(inputs())
def test_from_pandas_gives_a_valid_object_or_a_clear_error(case):
    frame, side, names, duplicates = case
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = InteractionData.from_pandas(frame, side, duplicates=duplicates, **names)
    except (ValueError, TypeError) as error:
        assert str(error), "an error must say what was wrong"
        return
    check_invariants(data, frame, side, names, duplicates)


@SETTINGS
@given(inputs())
def test_row_views_and_pickles_keep_the_invariants(case):
    import pickle

    frame, side, names, duplicates = case
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = InteractionData.from_pandas(frame, side, duplicates="keep", **names)
    except (ValueError, TypeError):
        return
    half = data.take(np.arange(0, len(data), 2))
    assert half.item_ids is data.item_ids and half.items is data.items
    restored = pickle.loads(pickle.dumps(data))
    assert restored.user_ids.equals(data.user_ids)
    np.testing.assert_array_equal(restored.item_codes, data.item_codes)


@pytest.mark.parametrize("ids", [
    [2**63 - 1, -(2**63), 0],
    np.array([2**64 - 1, 0, 2**63], dtype=np.uint64),
    [2**80, "a", 2**80],
])
def test_huge_ids_keep_their_identity(ids):
    frame = pd.DataFrame({"user_id": [1, 2, 3], "item_id": pd.Series(ids)})
    data = InteractionData.from_pandas(frame)
    assert data.to_pandas()["item_id"].tolist() == pd.Series(ids).tolist()


def test_empty_frames_are_a_clear_error():
    with pytest.raises(ValueError, match="interactions is empty"):
        InteractionData.from_pandas(pd.DataFrame({"user_id": [], "item_id": []}))
