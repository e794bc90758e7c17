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


def test_user_profile_is_recent_training_items_oldest_first(small_data):
    encoder = RecordingEncoder(embed_dim=8)
    _guide(encoder=encoder, max_history=2, target="users").fit(small_data)
    # user 1 saw a, b, c (c has no text) in that order; user 2 saw b then a.
    assert sorted(encoder.texts) == sorted([
        "whisk dough. cooking",
        "whisk dough. cooking | galaxy rocket. space",
    ])


def test_user_profiles_see_training_rows_only():
    items = pd.DataFrame({"title": ["old one", "secret future"]}, index=[1, 2])
    rows = pd.DataFrame({"user_id": [7, 7], "item_id": [1, 2], "t": [1, 2]})
    data = InteractionData.from_pandas(rows, items, time_col="t")
    train = data.iloc[[0]]  # as LeaveLastOut would leave it
    encoder = RecordingEncoder(embed_dim=8)
    guide = _guide(encoder=encoder, target="users").fit(train)
    assert encoder.texts == ["old one"]
    np.testing.assert_allclose(guide.user_targets_[0], HashingEncoder(embed_dim=8).embed(["old one"])[0])


def test_augmented_rows_do_not_enter_profiles(small_data):
    augmented = small_data.with_added_rows([small_data.encode_users([3])[0]],
                                           small_data.encode_items(["d"]))
    encoder = RecordingEncoder(embed_dim=8)
    guide = _guide(encoder=encoder, target="users").fit(augmented)
    assert not any("coral" in t for t in encoder.texts)
    assert not guide.user_targets_[augmented.encode_users([3])[0]].any()  # only "c", no text


def test_profiles_choice(small_data):
    items_only = _guide(target="items").fit_transform(small_data).artifacts["guidance"]
    assert items_only.user_targets is None and items_only.item_targets is not None
    users_only = _guide(target="users").fit_transform(small_data).artifacts["guidance"]
    assert users_only.item_targets is None and users_only.user_targets is not None


def test_llm_writes_profiles_that_the_encoder_embeds(small_data):
    (llm, prompts), encoder = recording_llm(), RecordingEncoder(embed_dim=8)
    guide = _guide(encoder=encoder, llm=llm, max_history=5).fit(small_data)
    # three items with text, three users with a history (titles; "c" has none: its id)
    assert len(prompts) == 6 == guide.n_llm_prompts_
    assert any("Item: galaxy rocket. space" in p and p.startswith("Describe") for p in prompts)
    assert any("\ngalaxy rocket | whisk dough | c\n" in p for p in prompts)
    assert any("\nwhisk dough | galaxy rocket\n" in p for p in prompts)
    assert all(t.startswith("profile: ") for t in encoder.texts)
    assert guide.llm_stats_["calls"] == 6 and guide.llm_time_ > 0


def test_transform_aligns_by_value_and_zero_fills_unseen(small_data):
    guide = _guide(unseen_items="zeros").fit(small_data)
    items = pd.DataFrame({"title": ["x", "y"]}, index=["new", "a"])
    other = InteractionData.from_pandas(
        pd.DataFrame({"user_id": [2, 99], "item_id": ["new", "a"]}), items)
    guide.encoder_ = RaisingEncoder()
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
    ({"target": "user"}, "'target' parameter"),
    ({"max_history": 0}, "'max_history' parameter"),
    ({"n_neighbors": 0}, "'n_neighbors' parameter"),
    ({"unseen_items": "mean"}, "'unseen_items' parameter"),
    ({"llm": _llm(), "item_template": "Describe {item}"}, r"item_template uses .*'item'"),
    ({"llm": _llm(), "user_template": "{history} {age}"}, r"user_template uses .*'age'"),
])
def test_bad_params_fail_at_fit(small_data, params, match):
    guide = _guide(**params)
    with pytest.raises(ValueError, match=match):
        guide.fit(small_data)


def test_bad_llm(small_data):
    with pytest.raises(TypeError, match="generate"):
        _guide(llm=object()).fit(small_data)
    # an encoder passed positionally lands in llm: the error says where it goes
    with pytest.raises(TypeError, match="pass.*encoder=|encoder=.*not as the first"):
        GuidanceRegularizer(HashingEncoder(embed_dim=8)).fit(small_data)

    class Short:
        def generate(self, prompts):
            return ["one"]

    with pytest.raises(ValueError, match="answers"):
        _guide(llm=Short()).fit(small_data)


def test_failed_llm_answers_fall_back_to_the_text_with_a_warning(small_data):
    llm = recording_llm()[0].set_params(responder=_fail_on_galaxy, on_error="skip",
                                         max_retries=0)
    with pytest.warns(UserWarning, match="empty answer for 1 of 3 item profiles"):
        guide = _guide(llm=llm, target="items").fit(small_data)
    a = small_data.encode_items(["a"])[0]
    assert guide.profiles_["items"][a] == "galaxy rocket. space"
    np.testing.assert_allclose(guide.item_targets_[a],
                               HashingEncoder(embed_dim=16).embed(["galaxy rocket. space"])[0])
    # users 1 and 2 have a galaxy in their history: they get their history text
    with pytest.warns(UserWarning, match="2 of 3 user profiles; their history text"):
        guide = _guide(llm=llm, target="users").fit(small_data)
    assert guide.profiles_["users"].tolist() == [
        "galaxy rocket. space | whisk dough. cooking",
        "whisk dough. cooking | galaxy rocket. space", "a profile"]


def test_failed_embeddings_are_an_error_naming_the_id(small_data):
    class Flaky(HashingEncoder):
        def _compute(self, operation, payloads, report):
            if any("coral" in p["text"] for p in payloads):
                raise RuntimeError("encoder down")
            return super()._compute(operation, payloads, report)

    encoder = Flaky(embed_dim=8, on_error="skip", max_retries=0, cache=None)
    with pytest.raises(ValueError, match=r"NaN or infinite vectors for 1 of 3 item texts "
                                         r"\(ids \['d'\]\).*on_error='raise'"):
        _guide(encoder=encoder, target="items").fit(small_data)


def _fail_on_galaxy(prompt):
    if "galaxy" in prompt:
        raise RuntimeError("LLM down")
    return "a profile"
