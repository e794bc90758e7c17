import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import _num_samples

from skllmers import EmbeddingInit, InteractionData
from skllmers._interaction_data import _lexsort_user_time, check_interaction_data


@pytest.fixture
def frame():
    return pd.DataFrame({
        "user": ["ann", "ann", "bob", "bob", "cid"],
        "item": [10, 20, 10, 30, 20],
        "stars": [5.0, 3.0, 4.0, 2.0, 1.0],
        "when": [1, 2, 3, 4, 5],
    })


@pytest.fixture
def items():
    return pd.DataFrame(
        {"title": ["Alpha", "Beta", "Gamma", "Cold"], "genres": ["a", None, "c", "d"]},
        index=pd.Index([10, 20, 30, 99], name="item"),
    )


@pytest.fixture
def data(frame, items):
    return InteractionData.from_pandas(frame, items, user_col="user", item_col="item",
                                       rating_col="stars", time_col="when")


def test_codes_and_maps_round_trip(data, frame):
    assert len(data) == 5 and data.shape == (5,)
    assert data.user_codes.dtype == np.int32 and data.item_codes.dtype == np.int32
    assert data.user_ids.tolist() == ["ann", "bob", "cid"]
    back = data.to_pandas()
    assert back["user_id"].tolist() == frame["user"].tolist()
    assert back["item_id"].tolist() == frame["item"].tolist()
    assert back["rating"].tolist() == frame["stars"].tolist()


def test_side_table_ids_without_rows_are_cold_items(data):
    assert data.n_items == 4
    assert 99 in data.item_ids
    cold = data.encode_items([99])[0]
    assert (data.item_codes != cold).all()
    assert data.items.loc[99, "title"] == "Cold"
    assert data.items.index.equals(data.item_ids)


def test_row_views_share_maps_side_tables_and_artifacts(data):
    enriched = data.with_artifacts(item_features=np.ones((4, 2), np.float32))
    part = enriched.iloc[[0, 3]]
    assert part.user_ids is data.user_ids and part.item_ids is data.item_ids
    assert part.items is data.items
    assert part.artifacts["item_features"] is enriched.artifacts["item_features"]
    assert part.to_pandas()["item_id"].tolist() == [10, 30]
    assert data.take(np.array([True, False, True, False, False])).item_codes.tolist() == [0, 0]
    assert len(data[1:3]) == 2


def test_attaching_never_mutates_the_input(data):
    enriched = data.with_artifacts(item_embeddings=EmbeddingInit(np.zeros((4, 3))))
    assert dict(data.artifacts) == {}
    assert "item_embeddings" in enriched.artifacts
    with pytest.raises(TypeError):
        enriched.artifacts["x"] = 1
    assert dict(enriched.without_artifacts("item_embeddings").artifacts) == {}
    assert "item_embeddings" in enriched.artifacts


def test_sklearn_indexes_and_counts_it_without_adapter(data):
    assert _num_samples(data) == 5
    part = _safe_indexing(data, np.array([4, 0]))
    assert isinstance(part, InteractionData)
    assert part.to_pandas()["user_id"].tolist() == ["cid", "ann"]
    folds = list(KFold(n_splits=5).split(data))
    assert sum(len(test) for _, test in folds) == 5


def test_to_csr_sums_repeats_and_can_skip_augmented(data):
    matrix = data.to_csr()
    assert matrix.shape == (3, 4)
    assert matrix[0, 0] == 5.0 and matrix[1, 2] == 2.0
    more = data.with_added_rows([2], [0], weight=0.25)
    assert more.to_csr(values="ones")[2, 0] == 1.0
    assert more.to_csr(include_augmented=False)[2, 0] == 0.0
    assert more.to_csr(values="weights")[2, 0] == pytest.approx(0.25)


def test_added_rows_are_flagged_weighted_and_recent(data):
    more = data.with_added_rows([0, 1], [3, 3], weight=0.5)
    assert more.augmented.tolist() == [False] * 5 + [True, True]
    assert more.row_weights().tolist() == [1.0] * 5 + [0.5, 0.5]
    assert (more.timestamps[5:] == data.timestamps.max()).all()
    assert np.isnan(more.ratings[5:]).all()
    assert len(data) == 5 and data.augmented is None


def test_user_sequences_follow_time_and_break_ties_by_seed():
    frame = pd.DataFrame({"user_id": [1] * 4, "item_id": [1, 2, 3, 4], "t": [5, 1, 3, 3]})
    data = InteractionData.from_pandas(frame, time_col="t")
    indptr, items = data.user_sequences(random_state=0)
    ordered = data.item_ids[items].tolist()
    assert ordered[0] == 2 and ordered[-1] == 1 and set(ordered[1:3]) == {3, 4}
    seconds = {tuple(data.item_ids[data.user_sequences(random_state=s)[1]][1:3])
               for s in range(20)}
    assert seconds == {(3, 4), (4, 3)}


def test_duplicate_policies(frame):
    repeated = pd.concat([frame, frame.iloc[[0]].assign(when=9, stars=1.0)],
                         ignore_index=True)
    kwargs = dict(user_col="user", item_col="item", rating_col="stars", time_col="when")
    assert len(InteractionData.from_pandas(repeated, duplicates="keep", **kwargs)) == 6
    with pytest.warns(UserWarning, match="1 of 6 rows removed"):
        summed = InteractionData.from_pandas(repeated, duplicates="sum", **kwargs)
    first = summed.to_pandas().query("user_id == 'ann' and item_id == 10")
    assert first["rating"].tolist() == [6.0] and first["timestamp"].tolist() == [9]
    with pytest.warns(UserWarning):
        last = InteractionData.from_pandas(repeated, duplicates="last", **kwargs)
    assert last.to_pandas().query("user_id == 'ann' and item_id == 10")["rating"].item() == 1.0
    with pytest.raises(ValueError, match="1 rows repeat"):
        InteractionData.from_pandas(repeated, duplicates="error", **kwargs)


@pytest.mark.parametrize("change, error, message", [
    (lambda f: f.drop(columns="item"), KeyError, "'item'"),
    (lambda f: f.assign(user=[None, "a", "b", "c", "d"]), ValueError, "1 missing"),
    (lambda f: f.assign(stars=["5", "x", 1, 2, 3]), ValueError, "'stars' must be numeric"),
    (lambda f: f.assign(stars=[np.nan, 1, 2, 3, 4]), ValueError, "'stars' has 1 missing"),
    (lambda f: f.iloc[:0], ValueError, "empty"),
])
def test_bad_input_names_the_column_and_problem(frame, change, error, message):
    with pytest.raises(error, match=message):
        InteractionData.from_pandas(change(frame), user_col="user", item_col="item",
                                    rating_col="stars", time_col="when")


def test_bad_side_tables_and_policies(frame, items):
    with pytest.raises(ValueError, match="repeats ids"):
        InteractionData.from_pandas(frame, pd.concat([items, items]), user_col="user",
                                    item_col="item")
    with pytest.raises(ValueError, match="not a policy"):
        InteractionData.from_pandas(frame, user_col="user", item_col="item", duplicates="x")
    with pytest.raises(TypeError, match="DataFrame"):
        InteractionData.from_pandas(frame.to_numpy())


def test_check_interaction_data_explains_how_to_build_one(frame):
    with pytest.raises(TypeError, match="from_pandas"):
        check_interaction_data(frame, "fit")


def test_datetime_timestamps_and_numeric_strings(frame):
    frame = frame.assign(when=pd.to_datetime(frame["when"], unit="D"), stars=frame["stars"]
                         .astype(str))
    data = InteractionData.from_pandas(frame, user_col="user", item_col="item",
                                       rating_col="stars", time_col="when")
    assert data.timestamps.dtype == np.int64
    assert np.all(np.diff(data.timestamps) > 0)
    assert data.ratings.dtype == np.float32


def test_item_text_joins_text_columns_and_skips_missing(data):
    text = data.item_text()
    assert text.loc[10] == "Alpha. a"
    assert text.loc[20] == "Beta"


def test_encode_unknown_ids(data):
    assert data.encode_users(["bob", "zed"], unknown="ignore").tolist() == [1, -1]
    with pytest.raises(KeyError, match="zed"):
        data.encode_users(["zed"])


def test_pickle_round_trip_keeps_everything(data):
    enriched = data.with_artifacts(item_features=np.eye(4, dtype=np.float32))
    back = pickle.loads(pickle.dumps(enriched))
    assert back.to_pandas().equals(enriched.to_pandas())
    np.testing.assert_array_equal(back.artifacts["item_features"], np.eye(4))
    assert back.items.equals(enriched.items)


def test_id_maps_and_side_tables_are_named_after_the_id_columns(data):
    assert data.user_ids.name == "user" and data.item_ids.name == "item"
    assert data.items.index.name == "item"


def test_taking_no_rows_gives_an_empty_view(data):
    empty = data.take([])
    assert len(empty) == 0 and empty.item_ids is data.item_ids
    assert empty.to_csr().nnz == 0


@pytest.mark.parametrize("times", [
    "small ints", "negative ints", "floats", "huge span", "empty",
])
def test_user_time_order_is_numpys_lexsort(times):
    rng = np.random.default_rng(0)
    n = 0 if times == "empty" else 2000
    users = rng.integers(50, size=n).astype(np.int32)
    values = {
        "small ints": rng.integers(20, size=n),  # many ties to break
        "negative ints": rng.integers(-5, 5, size=n),
        "floats": rng.integers(20, size=n) / 3.0,
        "huge span": rng.choice([0, 2**61], size=n),  # the packed key would overflow
        "empty": np.zeros(0, dtype=np.int64),
    }[times]
    tie_break = rng.random(n)
    if n:  # rows equal in all three keys: then the row order decides
        users[:10], values[:10], tie_break[:10] = 7, values[0], 0.5
    expected = np.lexsort((tie_break, values, users))
    np.testing.assert_array_equal(_lexsort_user_time(users, values, tie_break), expected)



# ---------------------------------------------------------------------- side tables
def _coded(data, **kwargs):
    return InteractionData(data.user_codes, data.item_codes, user_ids=data.user_ids,
                           item_ids=data.item_ids, **kwargs)


def test_the_constructor_reindexes_side_tables_to_the_id_maps(data, items):
    # the table in another order: each item must still get its own title
    shuffled = items.iloc[[3, 1, 0, 2]]
    rebuilt = _coded(data, items=shuffled)
    assert rebuilt.items.index.equals(data.item_ids)
    for item_id in data.item_ids:
        assert rebuilt.items.loc[item_id, "title"] == items.loc[item_id, "title"]
    code = data.encode_items([30])[0]
    assert rebuilt.item_text(["title"]).iloc[code] == "Gamma"


def test_an_id_missing_from_the_side_table_gets_an_empty_row(data, items):
    rebuilt = _coded(data, items=items.drop(index=20))
    assert rebuilt.items.index.equals(data.item_ids)
    assert rebuilt.item_text(["title"]).tolist() == ["Alpha", "", "Gamma", "Cold"]


def test_side_table_ids_outside_the_id_map_raise_in_the_constructor(data, items):
    extra = pd.concat([items, pd.DataFrame({"title": ["New"]}, index=[77])])
    with pytest.raises(ValueError, match=r"items table has 1 ids that are not in item_ids "
                                         r"\(e\.g\. \[77\]\).*from_pandas"):
        _coded(data, items=extra)
    as_text = items.set_axis(items.index.astype(str))  # "10" is not 10
    with pytest.raises(ValueError, match="4 ids that are not in item_ids"):
        _coded(data, items=as_text)
    users = pd.DataFrame({"age": [1, 2]}, index=["ann", "zoe"])
    with pytest.raises(ValueError, match=r"users table has 1 ids .*\['zoe'\]"):
        _coded(data, users=users)
    with pytest.raises(TypeError, match="items must be a pandas DataFrame"):
        _coded(data, items=items.to_numpy())


# ---------------------------------------------------------------------- non-finite
@pytest.mark.parametrize("column, values, message", [
    ("ratings", [5, np.inf, 1, 2, 3], r"ratings must be finite .*first in row 1: inf"),
    ("ratings", [5, 1, 2, 3, np.nan], r"ratings must be finite \(NaN is allowed on "
                                      r"augmented rows only\).*row 4: nan"),
    ("weights", [1, 1, -np.inf, 1, 1], r"weights must be finite.*row 2: -inf"),
    ("weights", [1, 1, 1, -0.5, 1], r"weights must be >= 0; row 3 has -0.5"),
    ("timestamps", [1.0, 2.0, np.nan, 4.0, 5.0], r"timestamps must be finite.*row 2: nan"),
    ("timestamps", np.array(["2020-01-01", "NaT", "2020-01-02", "2020-01-03", "2020-01-04"],
                            dtype="datetime64[ns]"), "timestamps must be finite; row 1 is NaT"),
])
def test_non_finite_columns_are_rejected_naming_the_row(data, column, values, message):
    with pytest.raises(ValueError, match=message):
        _coded(data, **{column: values})


def test_augmented_rows_may_lack_a_rating(data):
    more = data.with_added_rows([0], [2])
    assert np.isnan(more.ratings[-1]) and more.augmented[-1]
    with pytest.raises(ValueError, match="ratings must be finite"):
        more._with_columns(augmented=np.zeros(len(more), bool))


def test_timestamps_must_be_numbers_or_datetimes(data):
    with pytest.raises(TypeError, match="timestamps must be numbers or datetimes"):
        _coded(data, timestamps=list("abcde"))
    dated = _coded(data, timestamps=np.arange(5).astype("datetime64[s]"))
    assert dated.timestamps.dtype == np.int64 and dated.timestamps[1] == 10**9


@pytest.mark.parametrize("column", ["stars", "when"])
def test_from_pandas_rejects_infinite_values_naming_the_row(frame, column):
    bad = frame.assign(**{column: [1.0, 2.0, 3.0, np.inf, 5.0]}).set_axis(list("vwxyz"))
    with pytest.raises(ValueError, match=rf"'{column}' has 1 infinite values.*row 3, index "
                                         r"label 'y'"):
        InteractionData.from_pandas(bad, user_col="user", item_col="item",
                                    rating_col="stars", time_col="when")


def test_from_pandas_names_the_first_missing_value(frame):
    bad = frame.assign(stars=[1.0, 2.0, np.nan, 4.0, 5.0])
    with pytest.raises(ValueError, match=r"'stars' has 1 missing values \(the first in row 2"):
        InteractionData.from_pandas(bad, user_col="user", item_col="item", rating_col="stars")
