"""skllmers._text, the one text module: one history rule and one behaviour for encoders."""

import inspect

import numpy as np
import pandas as pd
import pytest
from _me_doubles import HashingEncoder, RecordingEncoder, recording_llm

from skllmers import InteractionData
from skllmers._text import (
    check_unseen,
    embed_texts,
    format_history,
    history_texts,
    item_texts,
    recent_histories,
)
from skllmers.knowledge import LLMSummaryFeaturizer
from skllmers.model_enhancement import GuidanceRegularizer, LLMEmbeddingInitializer

TRANSFORMERS = [LLMSummaryFeaturizer, LLMEmbeddingInitializer, GuidanceRegularizer]


def test_histories_are_the_most_recent_items_oldest_first_joined_by_a_bar():
    rows = pd.DataFrame({"user_id": [1, 1, 1, 1], "item_id": ["w", "x", "y", "z"],
                         "t": [4, 1, 3, 2]})
    items = pd.DataFrame({"title": ["W", "X", "Y", "Z"]}, index=["w", "x", "y", "z"])
    data = InteractionData.from_pandas(rows, items, time_col="t")
    histories = recent_histories(data, 3)
    assert data.item_ids[histories[0]].tolist() == ["z", "y", "w"]
    assert history_texts(histories, item_texts(data)).tolist() == ["Z | Y | W"]
    assert format_history(["Z", "", "W"]) == "Z | W"


def test_augmented_rows_never_enter_a_history(small_data):
    augmented = small_data.with_added_rows(small_data.encode_users([3]),
                                           small_data.encode_items(["d"]))
    histories = recent_histories(augmented, 20)
    assert augmented.item_ids[histories[augmented.encode_users([3])[0]]].tolist() == ["c"]


def test_nan_vectors_are_an_error_naming_the_ids_never_zero_filled():
    class HalfBroken:
        def embed(self, texts):
            out = np.ones((len(texts), 2))
            out[[i for i, t in enumerate(texts) if "bad" in t]] = np.nan
            return out

    with pytest.raises(ValueError, match=r"1 of 2 item texts \(ids \['i2'\]\)"):
        embed_texts(HalfBroken(), ["good", "bad", "", "good"], ids=["i1", "i2", "i3", "i4"],
                    what="item texts")


def test_empty_texts_are_zero_rows_and_never_sent():
    encoder = RecordingEncoder(embed_dim=4)
    vectors = embed_texts(encoder, ["x", "", "x"])
    assert encoder.texts == ["x"] and not vectors[1].any()
    assert embed_texts(encoder, ["", ""], width=4).shape == (2, 4)
    with pytest.raises(ValueError, match="All 2 user profiles are empty"):
        embed_texts(encoder, ["", ""], what="user profiles")


def test_check_unseen_names_a_few_ids():
    known = np.array([True] + [False] * 7)
    ids = pd.Index(list("abcdefgh"))
    check_unseen(known, ids, "zeros", "items")  # only "error" raises
    with pytest.raises(ValueError, match=r"7 items .*\['b', 'c', 'd', 'e', 'f'\], \.\.\.\)"):
        check_unseen(known, ids, "error", "items")


@pytest.mark.parametrize("cls", TRANSFORMERS, ids=lambda c: c.__name__)
def test_one_vocabulary(cls):
    """The shared names, values and defaults of the PLAN's vocabulary table."""
    signature = inspect.signature(cls)
    params = signature.parameters
    first = list(params)[:2]
    assert first == (["encoder", "n_components"] if cls is LLMEmbeddingInitializer
                     else ["llm", "encoder"])
    assert all(params[name].kind is inspect.Parameter.KEYWORD_ONLY
               for name in list(params)[2 if cls is not LLMEmbeddingInitializer else 1:])
    defaults = {name: p.default for name, p in params.items()}
    assert defaults["max_history"] == 20
    assert defaults["unseen_items"] == "encode" and defaults["unseen_users"] == "zeros"
    assert defaults["random_state"] is None and defaults["verbose"] is False
    assert defaults["text_columns"] is None and defaults["user_text_columns"] is None
    constraints = cls._parameter_constraints
    assert constraints["target"][0].options == {"items", "users", "both"}
    for name in ("unseen_items", "unseen_users"):
        assert constraints[name][0].options == {"encode", "zeros", "error"}
    assert set(constraints) == set(params)  # every parameter is validated
    for old in ("n_recent", "profiles", "item_prompt", "user_prompt"):
        assert old not in params


@pytest.mark.parametrize("cls", TRANSFORMERS, ids=lambda c: c.__name__)
def test_verbose_reports_the_stage(cls, small_data, capsys):
    params = {"verbose": True}
    if cls is LLMEmbeddingInitializer:
        params["n_components"] = 2
    cls(encoder=HashingEncoder(embed_dim=8), **params).fit(small_data)
    assert f"[{cls.__name__}]" in capsys.readouterr().out


def test_guidance_reports_llm_stats_like_the_others(small_data):
    llm, _ = recording_llm()
    guide = GuidanceRegularizer(llm, HashingEncoder(embed_dim=8)).fit(small_data)
    summary = LLMSummaryFeaturizer(llm, HashingEncoder(embed_dim=8),
                                   target="both").fit(small_data)
    for fitted in (guide, summary):
        assert set(fitted.llm_stats_) == {"requests", "cache_hits", "calls"}
        assert fitted.llm_time_ >= 0 and fitted.n_llm_prompts_ > 0
    assert GuidanceRegularizer(encoder=HashingEncoder(8)).fit(small_data).llm_stats_ == {}


@pytest.mark.parametrize("make, attribute", [
    (lambda: LLMEmbeddingInitializer(HashingEncoder(embed_dim=16), n_components=2,
                                     target="both", unseen_users="encode", random_state=0),
     "user_embeddings"),
    (lambda: GuidanceRegularizer(encoder=HashingEncoder(embed_dim=16), unseen_users="encode"),
     "guidance"),
])
def test_unseen_users_encode_builds_them_from_their_rows(small_data, make, attribute):
    """A new user who saw only item "a" gets the vector of a's text (no LLM, no refit)."""
    fitted = make().fit(small_data)
    other = InteractionData.from_pandas(pd.DataFrame({"user_id": [9], "item_id": ["a"]}),
                                        small_data.items.loc[["a"]])
    artifact = fitted.transform(other).artifacts[attribute]
    a = small_data.encode_items(["a"])[0]
    if attribute == "guidance":
        np.testing.assert_allclose(artifact.user_targets[0], fitted.item_targets_[a], atol=1e-6)
    else:
        np.testing.assert_allclose(artifact.vectors[0], fitted.vectors_[a], atol=1e-6)
    fitted.set_params(unseen_users="error")
    with pytest.raises(ValueError, match=r"1 users were not seen at fit \(\[9\]\)"):
        fitted.transform(other)
