import pickle

import numpy as np
import pandas as pd
import pytest
from _me_doubles import HashingEncoder, RaisingEncoder, RecordingEncoder, recording_llm
from sklearn.base import clone

from skllmers import GuidanceTargets, InteractionData
from skllmers.model_enhancement import GuidanceRegularizer


def _llm():
    return recording_llm()[0]


def _guide(**params):
    params.setdefault("encoder", HashingEncoder(embed_dim=16))
    return GuidanceRegularizer(**params)


def test_attaches_guidance_targets_with_loss_settings(small_data):
    out = _guide(weight=0.05, temperature=0.5, kind="generative",
                 mask_ratio=0.3).fit_transform(small_data)
    targets = out.artifacts["guidance"]
    assert isinstance(targets, GuidanceTargets)
    assert (targets.weight, targets.temperature, targets.kind, targets.mask_ratio) == (
        0.05, 0.5, "generative", 0.3)
    assert targets.item_targets.shape == (small_data.n_items, 16)
    assert targets.user_targets.shape == (small_data.n_users, 16)
    assert "guidance" not in small_data.artifacts


def test_distillation_settings_reach_the_targets(small_data):
    targets = _guide(kind="distillation", n_neighbors=3).fit_transform(
        small_data).artifacts["guidance"]
    assert (targets.kind, targets.n_neighbors) == ("distillation", 3)


def test_item_targets_embed_item_text(small_data):
    guide = _guide().fit(small_data)
    texts = small_data.item_text().tolist()
    expected = HashingEncoder(embed_dim=16).embed(texts)
    expected[texts.index("")] = 0.0
    np.testing.assert_allclose(guide.item_targets_, expected)


def test_user_profile_is_recent_training_items_most_recent_first(small_data):
    encoder = RecordingEncoder(embed_dim=8)
    _guide(encoder=encoder, n_recent=2, profiles="users").fit(small_data)
    # user 1 saw a, b, c (c has no text) in that order; user 2 saw b then a.
    assert sorted(encoder.texts) == sorted([
        "whisk dough. cooking",
        "galaxy rocket. space | whisk dough. cooking",
    ])


def test_user_profiles_see_training_rows_only():
    items = pd.DataFrame({"title": ["old one", "secret future"]}, index=[1, 2])
    rows = pd.DataFrame({"user_id": [7, 7], "item_id": [1, 2], "t": [1, 2]})
    data = InteractionData.from_pandas(rows, items, time_col="t")
    train = data.iloc[[0]]  # as LeaveLastOut would leave it
    encoder = RecordingEncoder(embed_dim=8)
    guide = _guide(encoder=encoder, profiles="users").fit(train)
    assert encoder.texts == ["old one"]
    np.testing.assert_allclose(guide.user_targets_[0], HashingEncoder(embed_dim=8).embed(["old one"])[0])


def test_augmented_rows_do_not_enter_profiles(small_data):
    augmented = small_data.with_added_rows([small_data.encode_users([3])[0]],
                                           small_data.encode_items(["d"]))
    encoder = RecordingEncoder(embed_dim=8)
    guide = _guide(encoder=encoder, profiles="users").fit(augmented)
    assert not any("coral" in t for t in encoder.texts)
    assert not guide.user_targets_[augmented.encode_users([3])[0]].any()  # only "c", no text


def test_profiles_choice(small_data):
    items_only = _guide(profiles="items").fit_transform(small_data).artifacts["guidance"]
    assert items_only.user_targets is None and items_only.item_targets is not None
    users_only = _guide(profiles="users").fit_transform(small_data).artifacts["guidance"]
    assert users_only.item_targets is None and users_only.user_targets is not None


def test_llm_writes_profiles_that_the_encoder_embeds(small_data):
    (llm, prompts), encoder = recording_llm(), RecordingEncoder(embed_dim=8)
    _guide(encoder=encoder, llm=llm, n_recent=5).fit(small_data)
    # three items with text, two users with some text in their history
    assert len(prompts) == 5
    assert any("galaxy rocket. space" in p and p.startswith("Describe") for p in prompts)
    assert any("whisk dough. cooking | galaxy rocket. space" in p for p in prompts)
    assert all(t.startswith("profile: ") for t in encoder.texts)


def test_transform_aligns_by_value_and_zero_fills_unseen(small_data):
    guide = _guide().fit(small_data)
    items = pd.DataFrame({"title": ["x", "y"]}, index=["new", "a"])
    other = InteractionData.from_pandas(
        pd.DataFrame({"user_id": [2, 99], "item_id": ["new", "a"]}), items)
    guide.set_params(encoder=RaisingEncoder())
    targets = guide.transform(other).artifacts["guidance"]
    np.testing.assert_array_equal(targets.item_targets[1],
                                  guide.item_targets_[small_data.encode_items(["a"])[0]])
    assert not targets.item_targets[0].any()
    np.testing.assert_array_equal(targets.user_targets[0],
                                  guide.user_targets_[small_data.encode_users([2])[0]])
    assert not targets.user_targets[1].any()


def test_clone_pickle_and_set_params(small_data):
    guide = _guide(weight=0.1)
    assert clone(guide).get_params()["weight"] == 0.1
    fitted = guide.fit(small_data)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        restored.transform(small_data).artifacts["guidance"].user_targets, fitted.user_targets_)
    restored.set_params(weight=0.0)  # loss settings are read at transform
    assert restored.transform(small_data).artifacts["guidance"].weight == 0.0


@pytest.mark.parametrize("params, match", [
    ({"weight": -1}, "'weight' parameter"),
    ({"temperature": 0}, "'temperature' parameter"),
    ({"mask_ratio": 1.5}, "'mask_ratio' parameter"),
    ({"kind": "distill"}, "'kind' parameter"),
    ({"profiles": "all"}, "'profiles' parameter"),
    ({"n_recent": 0}, "'n_recent' parameter"),
    ({"n_neighbors": 0}, "'n_neighbors' parameter"),
    ({"llm": _llm(), "item_prompt": "Describe {item}"}, "item_prompt must be"),
    ({"llm": _llm(), "user_prompt": "No history field"}, "user_prompt must contain"),
])
def test_bad_params_fail_at_fit(small_data, params, match):
    guide = _guide(**params)
    with pytest.raises(ValueError, match=match):
        guide.fit(small_data)


def test_bad_llm(small_data):
    with pytest.raises(TypeError, match="generate"):
        _guide(llm=object()).fit(small_data)

    class Short:
        def generate(self, prompts):
            return ["one"]

    with pytest.raises(ValueError, match="answers"):
        _guide(llm=Short()).fit(small_data)


def test_missing_llm_answers_and_vectors_become_no_target(small_data):
    llm = recording_llm()[0].set_params(responder=_fail_on_galaxy, on_error="skip",
                                         max_retries=0)
    with pytest.warns(UserWarning, match="no answer for 1 of 3"):
        guide = _guide(llm=llm, profiles="items").fit(small_data)
    a = small_data.encode_items(["a"])[0]
    assert not guide.item_targets_[a].any() and guide.item_targets_.any()
    # both users' histories mention a galaxy: no user profile is left at all
    with pytest.warns(UserWarning, match="no answer for 2 of 2"), \
            pytest.raises(ValueError, match="All 3 user profiles are empty"):
        _guide(llm=llm, profiles="users").fit(small_data)


def test_failed_embeddings_become_zero_rows(small_data):
    class Flaky(HashingEncoder):
        def _compute(self, operation, payloads, report):
            if any("coral" in p["text"] for p in payloads):
                raise RuntimeError("encoder down")
            return super()._compute(operation, payloads, report)

    encoder = Flaky(embed_dim=8, on_error="skip", max_retries=0)
    with pytest.warns(UserWarning, match="no vector"):
        guide = _guide(encoder=encoder, profiles="items").fit(small_data)
    d = small_data.encode_items(["d"])[0]
    assert not guide.item_targets_[d].any() and guide.item_targets_.any()


def _fail_on_galaxy(prompt):
    if "galaxy" in prompt:
        raise RuntimeError("LLM down")
    return "a profile"
