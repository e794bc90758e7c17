"""LLMSummaryFeaturizer: prompts, features, alignment, no leakage, tables, sklearn contract."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from _kie_doubles import Raising, recording_llm, topic_oracle
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skllmers import InteractionData
from skllmers.knowledge import LLMSummaryFeaturizer
from skllmers.llm import LlamaCppLLM
from skllmers.llm.testing import HashingEncoder, ScriptedLLM
from skllmers.recommenders import LightFMRecommender


def _expected_failed_checks(estimator):
    return {
        "check_fit1d": "A 1-D input is one column of texts (ColumnTransformer passes a "
                       "Series for a single column name), so it is accepted, not rejected.",
    }


@parametrize_with_checks(
    [LLMSummaryFeaturizer(encoder=HashingEncoder(16)),
     LLMSummaryFeaturizer(ScriptedLLM(), HashingEncoder(16), n_components=2,
                          unseen_items="zeros")],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _item_prompts(log):
    return [p for op, p in log if op == "generate" and "from a catalogue" in p]


def _user_prompts(log):
    return [p for op, p in log if op == "generate" and "Given a user" in p]


# ---------------------------------------------------------------------- fitting
def test_item_and_user_features_are_encoded_summaries(small_data):
    log = []
    encoder = HashingEncoder(32)
    featurizer = LLMSummaryFeaturizer(recording_llm(log), encoder, target="both")
    out = featurizer.fit_transform(small_data)

    summaries = featurizer.summaries_
    assert list(summaries.columns) == ["kind", "id", "prompt", "summary"]
    items = summaries[summaries["kind"] == "item"]
    assert items["id"].tolist() == ["a", "b", "c", "e"]  # "d" has no text
    assert featurizer.item_ids_.equals(small_data.item_ids)  # the fitted id map
    assert items["summary"].tolist() == [f"summary: {p.splitlines()[-1]}"
                                         for p in items["prompt"]]
    assert featurizer.n_llm_prompts_ == len(summaries) == 4 + 3
    expected = encoder.embed(items["summary"].tolist())
    features = out.artifacts["item_features"]
    assert features.dtype == np.float32 and features.shape == (5, 32)
    np.testing.assert_allclose(features[[0, 1, 2, 4]], expected, atol=1e-6)
    np.testing.assert_array_equal(features[3], 0)  # no text, nothing to encode
    users = summaries[summaries["kind"] == "user"]
    np.testing.assert_allclose(out.artifacts["user_features"],
                               encoder.embed(users["summary"].tolist()), atol=1e-6)
    assert out is not small_data and "item_features" not in small_data.artifacts


def test_item_prompt_holds_the_side_table_text(small_data):
    log = []
    LLMSummaryFeaturizer(recording_llm(log), HashingEncoder(8)).fit(small_data)
    prompts = _item_prompts(log)
    assert len(prompts) == 4
    assert "Galaxy Rocket. space opera" in prompts[2]
    assert not _user_prompts(log)  # target="items" writes no user summary


def test_user_prompt_shows_recent_history_oldest_first(small_data):
    log = []
    LLMSummaryFeaturizer(recording_llm(log), HashingEncoder(8), target="users",
                         max_history=2).fit(small_data)
    prompts = _user_prompts(log)
    assert len(prompts) == 3
    # user 1 saw a, b, c, d (in time); d has no title, so its id stands in.
    assert "oldest first:\nGalaxy Rocket | d\n" in prompts[0]
    assert "Whisk Dough" not in prompts[0]
    assert "oldest first:\nWhisk Dough | Galaxy Rocket\n" in prompts[1]


def test_custom_templates_fill_named_fields(small_data):
    log = []
    featurizer = LLMSummaryFeaturizer(
        recording_llm(log), HashingEncoder(8), target="both",
        item_template="Item {item_id}: {title} / {genre}",
        user_template="User {user_id} ({n_items} items)\n{history}",
    )
    featurizer.fit(small_data)
    prompts = [p for _, p in log]
    assert "Item c: Galaxy Rocket / space opera" in prompts
    assert "User 2 (2 items)\nWhisk Dough | Galaxy Rocket" in prompts


@pytest.mark.parametrize("param, value, message", [
    ("item_template", "{plot}", "plot"),
    ("user_template", "{history} {age}", "age"),
    ("user_template", "{} liked", "positional"),
    ("target", "item", "target"),
    ("target", "user", "target"),
    ("unseen_items", "mean", "unseen_items"),
    ("unseen_users", "mean", "unseen_users"),
    ("verbose", "loud", "verbose"),
    ("max_history", 0, "max_history"),
    ("n_components", 99, "n_components"),
])
def test_bad_parameters_raise_in_fit(small_data, param, value, message):
    featurizer = LLMSummaryFeaturizer(ScriptedLLM(), HashingEncoder(8), target="both")
    featurizer.set_params(**{param: value})
    with pytest.raises(ValueError, match=message):
        featurizer.fit(small_data)


@pytest.mark.parametrize("target", ["items", "both"])
def test_a_bad_template_fails_before_any_llm_call(small_data, target):
    log = []
    featurizer = LLMSummaryFeaturizer(recording_llm(log), HashingEncoder(8), target=target,
                                      user_template="{history} {age}",
                                      item_template="{title} {plot}")
    with pytest.raises(ValueError, match="plot" if target == "items" else "plot|age"):
        featurizer.fit(small_data)
    assert log == []


def test_an_llm_without_generate_is_rejected(small_data):
    with pytest.raises(TypeError, match="generate"):
        LLMSummaryFeaturizer(object(), HashingEncoder(8)).fit(small_data)
    with pytest.raises(TypeError, match="encoder goes in as encoder="):
        LLMSummaryFeaturizer(HashingEncoder(8)).fit(small_data)


def test_empty_answers_fall_back_to_raw_text_with_a_warning(small_data):
    llm = ScriptedLLM(lambda prompt: "", name="silent")
    featurizer = LLMSummaryFeaturizer(llm, HashingEncoder(8))
    with pytest.warns(UserWarning, match="4 of 4 item summaries"):
        featurizer.fit(small_data)
    assert featurizer.summaries_["summary"].iloc[0] == "Galaxy Rocket. space"


def test_encoder_only_mode(small_data):
    encoder = HashingEncoder(16)
    featurizer = LLMSummaryFeaturizer(None, encoder, target="both")
    out = featurizer.fit_transform(small_data)
    raw = encoder.embed(small_data.item_text().tolist())
    np.testing.assert_allclose(out.artifacts["item_features"], raw, atol=1e-6)
    # a user's vector is the mean of their recent items' text vectors
    np.testing.assert_allclose(out.artifacts["user_features"][1], raw[[1, 0]].mean(axis=0),
                               atol=1e-6)
    assert featurizer.summaries_["prompt"].isna().all() and featurizer.n_llm_prompts_ == 0
    assert featurizer.llm_stats_ == {}


def test_pca_reduces_items_and_users_into_one_space(small_data):
    featurizer = LLMSummaryFeaturizer(ScriptedLLM(), HashingEncoder(16), target="both",
                                      n_components=3, random_state=0)
    out = featurizer.fit_transform(small_data)
    assert out.artifacts["item_features"].shape == (5, 3)
    assert out.artifacts["user_features"].shape == (3, 3)
    assert featurizer.pca_.n_components_ == 3 and featurizer.n_features_out_ == 3
    # on interactions the features are artifacts: no column names, no set_output
    assert not hasattr(featurizer, "get_feature_names_out")
    assert not hasattr(featurizer, "set_output")


# ---------------------------------------------------------------------- no leakage
def test_user_prompts_never_see_test_interactions(signal):
    data, truth, train, test = signal
    log = []
    featurizer = LLMSummaryFeaturizer(recording_llm(log), HashingEncoder(8), target="users",
                                      max_history=1000)
    featurizer.fit(train)
    titles = data.items["title"].astype(str).to_numpy()
    prompt_of = dict(zip(featurizer.summaries_["id"], featurizer.summaries_["prompt"],
                         strict=True))
    history_titles = {user: set(prompt.split("oldest first:\n", 1)[1].split("\n", 1)[0]
                                .split(" | "))
                      for user, prompt in prompt_of.items()}
    train_pairs = set(zip(train.user_codes.tolist(), train.item_codes.tolist(), strict=True))
    checked = 0
    for user, item in zip(test.user_codes, test.item_codes, strict=True):
        if (user, item) in train_pairs:
            continue
        assert titles[item] not in history_titles[data.user_ids[user]]
        checked += 1
    assert checked > 500
    # and every training item of a user is in their (untruncated) prompt
    user0 = train.user_codes[0]
    assert {titles[i] for i in train.item_codes[train.user_codes == user0]} \
        == history_titles[data.user_ids[user0]]


# ---------------------------------------------------------------------- transform
def _reordered_with_new_item(data):
    """The same interactions, rebuilt with other id maps and one new item."""
    frame = data.to_pandas().iloc[::-1]
    items = pd.concat([data.items.iloc[::-1],
                       pd.DataFrame({"title": ["Starship Saga"], "genre": ["space"]},
                                    index=pd.Index(["z"], name="item_id"))])
    rows = pd.concat([frame, pd.DataFrame({"user_id": [9], "item_id": ["z"], "timestamp": [5]})])
    return InteractionData.from_pandas(rows, items, time_col="timestamp")


def test_transform_aligns_by_id_and_encodes_unseen_items_without_the_llm(small_data):
    encoder = HashingEncoder(16)
    featurizer = LLMSummaryFeaturizer(ScriptedLLM(), encoder, target="both")
    fitted = featurizer.fit_transform(small_data)
    featurizer.set_params(llm=Raising())
    other = _reordered_with_new_item(small_data)
    out = featurizer.transform(other)

    items, users = out.artifacts["item_features"], out.artifacts["user_features"]
    for item in ["a", "b", "c", "e"]:
        np.testing.assert_array_equal(items[other.item_ids.get_loc(item)],
                                      fitted.artifacts["item_features"][
                                          small_data.item_ids.get_loc(item)])
    np.testing.assert_allclose(items[other.item_ids.get_loc("z")],
                               encoder.embed(["Starship Saga. space"])[0], atol=1e-6)
    for user in [1, 2, 3]:
        np.testing.assert_array_equal(users[other.user_ids.get_loc(user)],
                                      featurizer.user_features_[
                                          featurizer.user_ids_.get_loc(user)])
    np.testing.assert_array_equal(users[other.user_ids.get_loc(9)], 0)


def test_unseen_items_zeros_and_unseen_users_encode_or_error(small_data):
    encoder = HashingEncoder(16)
    featurizer = LLMSummaryFeaturizer(ScriptedLLM(), encoder, target="both",
                                      unseen_items="zeros", unseen_users="encode")
    featurizer.fit(small_data)
    other = _reordered_with_new_item(small_data)
    featurizer.set_params(llm=Raising())
    out = featurizer.transform(other)
    np.testing.assert_array_equal(out.artifacts["item_features"][other.item_ids.get_loc("z")], 0)
    # user 9 is new: their vector is built as the encoder-only mode does (no LLM call)
    np.testing.assert_allclose(out.artifacts["user_features"][other.user_ids.get_loc(9)],
                               encoder.embed(["Starship Saga. space"])[0], atol=1e-6)
    featurizer.set_params(unseen_items="error")
    with pytest.raises(ValueError, match=r"1 items were not seen at fit \(\['z'\]\).*"
                                         r"unseen_items='error'"):
        featurizer.transform(other)
    featurizer.set_params(unseen_items="zeros", unseen_users="error")
    with pytest.raises(ValueError, match=r"\[9\].*unseen_users='encode' or 'zeros'"):
        featurizer.transform(other)


def test_transform_checks_the_kind_of_input(small_data):
    featurizer = LLMSummaryFeaturizer(None, HashingEncoder(8)).fit(small_data)
    with pytest.raises(TypeError, match="InteractionData"):
        featurizer.transform(pd.Series(["text"]))
    table = LLMSummaryFeaturizer(None, HashingEncoder(8)).fit(pd.Series(["text"]))
    with pytest.raises(TypeError, match="table"):
        table.transform(small_data)


# ---------------------------------------------------------------------- tables
def test_table_mode_summarises_each_distinct_text_once():
    log = []
    texts = pd.DataFrame({"title": ["Alien", "Heat", "Alien"], "year": [1979, 1995, 1979]})
    featurizer = LLMSummaryFeaturizer(recording_llm(log), HashingEncoder(8),
                                      item_template="{title} came out in {year}")
    features = featurizer.fit_transform(texts)
    assert [p for _, p in log] == ["Alien came out in 1979", "Heat came out in 1995"]
    assert featurizer.texts_.tolist() == ["Alien. 1979", "Heat. 1995"]
    assert features.shape == (3, 8)
    np.testing.assert_array_equal(features[0], features[2])
    featurizer.set_params(llm=Raising())
    np.testing.assert_array_equal(featurizer.transform(texts.iloc[[1]]), features[[1]])
    assert featurizer.feature_names_in_.tolist() == ["title", "year"]


def test_table_mode_set_output_pandas():
    texts = pd.Series(["space opera", "cooking show"], index=[10, 20], name="plot")
    featurizer = LLMSummaryFeaturizer(None, HashingEncoder(4)).set_output(transform="pandas")
    out = featurizer.fit_transform(texts)
    assert isinstance(out, pd.DataFrame)
    assert out.index.tolist() == [10, 20]
    assert out.columns.tolist() == [f"llmsummaryfeaturizer{i}" for i in range(4)]


def test_table_mode_rejects_users():
    with pytest.raises(ValueError, match="no users"):
        LLMSummaryFeaturizer(None, HashingEncoder(4), target="both").fit(["a text"])


def test_in_a_column_transformer_before_a_ctr_model(signal):
    """Click-through rows (user, item text) -> LogisticRegression, text via the LLM."""
    data, truth, _, _ = signal
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 80, 600)  # a catalogue of 80 items: test items were seen in fit
    # the label depends on the item (its text) only: is space one of its two main topics?
    likes_space = (np.argsort(-truth.item_topics[codes], axis=1)[:, :2] == 0).any(axis=1)
    rows = pd.DataFrame({"user": rng.integers(0, 50, 600),
                         "description": data.items["description"].to_numpy()[codes]})
    llm = topic_oracle(data, truth)
    featurize = ColumnTransformer([
        ("text", LLMSummaryFeaturizer(llm, HashingEncoder(256),
                                      item_template="Here is an item from a catalogue:\n"
                                                    "{description}"), "description"),
    ]).set_output(transform="pandas")
    model = make_pipeline(featurize, LogisticRegression(max_iter=1000))
    model.fit(rows.iloc[:400], likes_space[:400])
    majority = max(likes_space[400:].mean(), 1 - likes_space[400:].mean())
    assert model.score(rows.iloc[400:], likes_space[400:]) > max(0.95, majority + 0.1)
    assert model[0].get_feature_names_out()[0] == "text__llmsummaryfeaturizer0"


# ---------------------------------------------------------------------- pipelines
def _lightfm():
    return LightFMRecommender(n_factors=32, epochs=20, random_state=0)


def test_beats_the_plain_model_on_text_signal_data(signal):
    data, truth, train, test = signal
    base = _lightfm().fit(train).score(test)
    enhanced = make_pipeline(
        LLMSummaryFeaturizer(topic_oracle(data, truth), HashingEncoder(64), n_components=8,
                             random_state=0),
        _lightfm(),
    ).fit(train).score(test)
    assert enhanced > base + 0.01, (base, enhanced)


def test_fitted_pipeline_serves_without_the_llm(signal):
    data, truth, train, test = signal
    pipe = make_pipeline(
        LLMSummaryFeaturizer(topic_oracle(data, truth), HashingEncoder(16), target="both",
                             n_components=4, random_state=0),
        LightFMRecommender(n_factors=8, epochs=2, random_state=0),
    ).fit(train)
    before = pipe.predict(test)
    pipe.set_params(llmsummaryfeaturizer__llm=Raising())
    np.testing.assert_array_equal(pipe.predict(test), before)
    assert len(pipe[-1].recommend(data.user_ids[:3], k=5)) == 15
    assert "item_features" in pipe[0].transform(test).artifacts
    assert np.isfinite(pipe.score(test))


def test_a_second_identical_fit_makes_no_llm_call(small_data, tmp_path):
    log = []
    llm = recording_llm(log, cache=tmp_path / "cache")
    featurizer = LLMSummaryFeaturizer(llm, HashingEncoder(8), target="both")
    first = featurizer.fit_transform(small_data).artifacts["item_features"]
    assert len(log) == 7 and featurizer.llm_stats_["calls"] == 7
    log.clear()
    second = clone(featurizer).fit_transform(small_data).artifacts["item_features"]
    assert log == []
    np.testing.assert_array_equal(first, second)


def test_pickle_and_clone(small_data):
    featurizer = LLMSummaryFeaturizer(ScriptedLLM(), HashingEncoder(8), target="both",
                                      n_components=2, random_state=0).fit(small_data)
    restored = pickle.loads(pickle.dumps(featurizer))
    np.testing.assert_array_equal(restored.transform(small_data).artifacts["user_features"],
                                  featurizer.transform(small_data).artifacts["user_features"])
    pd.testing.assert_frame_equal(restored.summaries_, featurizer.summaries_)
    fresh = clone(featurizer)
    assert not hasattr(fresh, "item_features_")
    assert fresh.get_params()["n_components"] == 2
    assert fresh.get_params()["encoder__embed_dim"] == 8  # GridSearchCV reaches nested params


def test_verbose_reports_the_llm_stage(small_data, capsys):
    LLMSummaryFeaturizer(ScriptedLLM(), HashingEncoder(8), verbose=True).fit(small_data)
    assert "4 LLM prompts" in capsys.readouterr().out


def test_llama_cpp_smoke(small_data, tiny_gguf):
    """The real llama.cpp path: a tiny random model writes (nonsense) summaries."""
    llm = LlamaCppLLM(tiny_gguf, max_tokens=4, n_ctx=512, cache=None, verbose=0)
    featurizer = LLMSummaryFeaturizer(llm, HashingEncoder(8), target="both", max_history=3)
    with warnings.catch_warnings():
        # the random model may answer with whitespace only: that falls back, with a warning
        warnings.simplefilter("ignore", UserWarning)
        out = featurizer.fit_transform(small_data)
    assert out.artifacts["item_features"].shape == (5, 8)
    assert featurizer.llm_stats_["calls"] == 7
    assert featurizer.summaries_["prompt"].str.contains("Galaxy Rocket").any()
