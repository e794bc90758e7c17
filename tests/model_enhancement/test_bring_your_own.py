"""Bring your own LLM outputs (issue 12 item 6): profiles from the users table, and
PrecomputedVectors keyed by id in place of an encoder, in all three transformers."""

import numpy as np
import pandas as pd
import pytest
from _me_doubles import HashingEncoder, RecordingEncoder, recording_llm
from sklearn.base import clone

from skllmers import InteractionData
from skllmers.knowledge import LLMSummaryFeaturizer
from skllmers.llm import PrecomputedVectors
from skllmers.model_enhancement import GuidanceRegularizer, LLMEmbeddingInitializer


@pytest.fixture
def data():
    """small_data with a users table: user 1 has a profile written elsewhere."""
    items = pd.DataFrame(
        {"title": ["galaxy rocket", "whisk dough", "", "coral reef"],
         "genre": ["space", "cooking", None, "ocean"]},
        index=pd.Index(["a", "b", "c", "d"], name="item_id"),
    )
    users = pd.DataFrame({"profile": ["Loves deep-sea documentaries.", None, ""],
                          "age": [30, 40, 50]}, index=pd.Index([1, 2, 3], name="user_id"))
    rows = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 3], "item_id": ["a", "b", "c", "b", "a", "c"],
                         "t": [1, 2, 3, 1, 2, 1]})
    return InteractionData.from_pandas(rows, items, users, time_col="t")


def _vectors(ids, width=3, offset=0.0):
    values = np.arange(len(ids) * width, dtype=float).reshape(len(ids), width) + offset + 1
    return pd.DataFrame(values, index=pd.Index(ids))


PROFILE = "Loves deep-sea documentaries."


# ---------------------------------------------------------------------- user_text_columns
def test_summary_uses_the_profile_text_without_an_llm_call(data):
    llm, prompts = recording_llm()
    encoder = HashingEncoder(embed_dim=8)
    featurizer = LLMSummaryFeaturizer(llm, encoder, target="users",
                                      user_text_columns="profile").fit(data)
    summaries = featurizer.summaries_.set_index("id")
    assert summaries.loc[1, "summary"] == PROFILE and pd.isna(summaries.loc[1, "prompt"])
    assert len(prompts) == 2 and all(PROFILE not in p for p in prompts)  # users 2 and 3
    np.testing.assert_allclose(featurizer.user_features_[0], encoder.embed([PROFILE])[0],
                               atol=1e-6)


def test_guidance_uses_the_profile_text_without_an_llm_call(data):
    llm, prompts = recording_llm()
    encoder = RecordingEncoder(embed_dim=8)
    guide = GuidanceRegularizer(llm, encoder, target="users",
                                user_text_columns=["profile"]).fit(data)
    assert guide.profiles_["users"][0] == PROFILE
    assert len(prompts) == 2 and guide.n_llm_prompts_ == 2
    assert PROFILE in encoder.texts


def test_initializer_embeds_the_profile_in_the_items_coordinates(data):
    init = LLMEmbeddingInitializer(HashingEncoder(embed_dim=16), n_components=2,
                                   target="both", user_text_columns="profile",
                                   random_state=0).fit(data)
    raw = HashingEncoder(embed_dim=16).embed([PROFILE])
    np.testing.assert_allclose(init.user_vectors_[0],
                               init.reducer_.transform(raw)[0] * init.scale_, atol=1e-5)
    history = LLMEmbeddingInitializer(HashingEncoder(embed_dim=16), n_components=2,
                                      target="both", random_state=0).fit(data)
    assert not np.allclose(init.user_vectors_[0], history.user_vectors_[0])
    np.testing.assert_allclose(init.user_vectors_[1], history.user_vectors_[1], atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda: LLMSummaryFeaturizer(encoder=HashingEncoder(8), target="users",
                                 user_text_columns="bio"),
    lambda: GuidanceRegularizer(encoder=HashingEncoder(8), user_text_columns="bio"),
    lambda: LLMEmbeddingInitializer(HashingEncoder(8), n_components=2, target="both",
                                    user_text_columns="bio"),
])
def test_a_missing_profile_column_is_named(data, make):
    with pytest.raises(KeyError, match=r"\['bio'\] are not columns of the users table"):
        make().fit(data)
    no_users = InteractionData.from_pandas(data.to_pandas(), data.items)
    with pytest.raises(ValueError, match="has none"):
        make().fit(no_users)


# ---------------------------------------------------------------------- PrecomputedVectors
def test_initializer_looks_items_and_users_up_by_id(data):
    items, users = _vectors(["d", "c", "b", "a"]), _vectors([3, 2, 1], offset=100)
    init = LLMEmbeddingInitializer(PrecomputedVectors(items=items, users=users),
                                   n_components=None, reduction=None, target_std=None,
                                   target="both").fit(data)
    np.testing.assert_array_equal(init.vectors_, items.loc[data.item_ids].to_numpy())
    np.testing.assert_array_equal(init.user_vectors_, users.loc[data.user_ids].to_numpy())


def test_without_user_vectors_a_user_is_the_mean_of_their_history(data):
    items = _vectors(["a", "b", "c", "d"])
    guide = GuidanceRegularizer(encoder=PrecomputedVectors(items=items)).fit(data)
    np.testing.assert_array_equal(guide.item_targets_, items.to_numpy(np.float32))
    # user 2 saw b then a; user 1 saw a, b, c (max_history=20)
    np.testing.assert_allclose(guide.user_targets_[1], items.loc[["b", "a"]].mean().to_numpy())
    np.testing.assert_allclose(guide.user_targets_[0],
                               items.loc[["a", "b", "c"]].mean().to_numpy())


def test_summary_with_precomputed_vectors_writes_no_item_summary(data):
    items, users = _vectors(["a", "b", "c", "d"]), _vectors([1, 2, 3])
    featurizer = LLMSummaryFeaturizer(encoder=PrecomputedVectors(items, users),
                                      target="both", n_components=2, random_state=0)
    out = featurizer.fit_transform(data)
    assert out.artifacts["item_features"].shape == (4, 2)
    assert featurizer.summaries_["summary"].isna().all()
    assert clone(featurizer).fit(data).item_features_.shape == (4, 2)


def test_missing_ids_are_named(data):
    vectors = PrecomputedVectors(items=_vectors(["a", "b"]))
    with pytest.raises(ValueError, match=r"no item vector for 2 of 4 items \(\['c', 'd'\]\)"):
        LLMEmbeddingInitializer(vectors, n_components=None, reduction=None).fit(data)


def test_unseen_ids_follow_the_policy(data):
    items = _vectors(["a", "b", "c", "d", "new"])
    init = LLMEmbeddingInitializer(PrecomputedVectors(items=items), n_components=None,
                                   reduction=None, target_std=None).fit(data)
    other = InteractionData.from_pandas(pd.DataFrame({"user_id": [1], "item_id": ["new"]}))
    encoded = init.transform(other).artifacts["item_embeddings"].vectors
    np.testing.assert_array_equal(encoded[0], items.loc["new"].to_numpy())  # looked up
    zeros = init.set_params(unseen_items="zeros").transform(other)
    assert not zeros.artifacts["item_embeddings"].vectors.any()
    other = InteractionData.from_pandas(pd.DataFrame({"user_id": [1], "item_id": ["gone"]}))
    with pytest.raises(ValueError, match=r"no item vector for 1 of 1 items \(\['gone'\]\)"):
        init.set_params(unseen_items="encode").transform(other)


@pytest.mark.parametrize("make, match", [
    (lambda v: LLMSummaryFeaturizer(recording_llm()[0], v, target="both"), "cannot encode"),
    (lambda v: GuidanceRegularizer(encoder=v, user_text_columns="profile"), "cannot encode"),
    (lambda v: LLMEmbeddingInitializer(v, target="both", user_text_columns="profile"),
     "cannot encode"),
    (lambda v: GuidanceRegularizer(recording_llm()[0], PrecomputedVectors(
        _vectors(["a", "b", "c", "d"]), _vectors([1, 2, 3]))), "never be called"),
])
def test_text_that_vectors_cannot_encode_is_rejected(data, make, match):
    vectors = PrecomputedVectors(items=_vectors(["a", "b", "c", "d"]))
    with pytest.raises(ValueError, match=match):
        make(vectors).fit(data)


def test_a_table_of_texts_needs_a_text_encoder():
    vectors = PrecomputedVectors(items=_vectors(["a"]))
    with pytest.raises(TypeError, match="no ids"):
        LLMSummaryFeaturizer(encoder=vectors).fit(pd.Series(["a text"]))


@pytest.mark.parametrize("kwargs, error, match", [
    ({}, ValueError, "needs items=, users= or both"),
    ({"items": np.ones((2, 2))}, TypeError, "must be a pandas DataFrame"),
    ({"items": pd.DataFrame({"d0": []})}, ValueError, "is empty"),
    ({"items": pd.DataFrame({"d0": ["x"]}, index=["a"])}, TypeError, "non-numeric"),
    ({"items": pd.DataFrame({"d0": [1.0, 2.0]}, index=["a", "a"])}, ValueError,
     r"duplicate ids \['a'\]"),
    ({"items": pd.DataFrame({"d0": [1.0, np.nan]}, index=["a", "b"])}, ValueError,
     r"NaN or infinite values for ids \['b'\]"),
    ({"items": pd.DataFrame({"d0": [np.inf]}, index=["a"])}, ValueError, "infinite"),
    ({"items": _vectors(["a"], width=3), "users": _vectors([1], width=2)}, ValueError,
     "one width"),
])
def test_bad_vectors_are_rejected_when_built(kwargs, error, match):
    with pytest.raises(error, match=match):
        PrecomputedVectors(**kwargs)


def test_precomputed_vectors_cannot_embed_text():
    with pytest.raises(TypeError, match="cannot embed text"):
        PrecomputedVectors(items=_vectors(["a"])).embed(["text"])
