import pickle

import numpy as np
import pandas as pd
import pytest
from _me_doubles import HashingEncoder, RaisingEncoder, RecordingEncoder
from sklearn.base import clone
from sklearn.decomposition import PCA

from skllmers import EmbeddingInit, InteractionData
from skllmers._text import history_texts, item_texts, recent_histories
from skllmers.model_enhancement import LLMEmbeddingInitializer


def _init(**params):
    params.setdefault("encoder", HashingEncoder(embed_dim=16))
    params.setdefault("n_components", 2)
    params.setdefault("random_state", 0)
    return LLMEmbeddingInitializer(**params)


def test_attaches_embedding_init_with_mode_and_width(small_data):
    out = _init(mode="frozen", add_id_embedding=False).fit_transform(small_data)
    artifact = out.artifacts["item_embeddings"]
    assert isinstance(artifact, EmbeddingInit)
    assert artifact.vectors.shape == (small_data.n_items, 2)
    assert artifact.mode == "frozen" and artifact.add_id_embedding is False
    assert "item_embeddings" not in small_data.artifacts
    assert out.item_ids is small_data.item_ids and len(out) == len(small_data)


def test_users_get_their_history_in_the_items_coordinates(small_data):
    init = _init(target="both", max_history=2).fit(small_data)
    out = init.transform(small_data)
    users = out.artifacts["user_embeddings"]
    assert users.vectors.shape == (small_data.n_users, 2) and users.mode == "init"
    # one history, by hand: user 2's 2 latest items, oldest first, joined by " | "
    history = "whisk dough. cooking | galaxy rocket. space"
    assert history_texts(recent_histories(small_data, 2, 0), item_texts(small_data))[1] \
        == history
    raw = HashingEncoder(embed_dim=16).embed([history])
    expected = init.reducer_.transform(raw) * init.scale_
    np.testing.assert_allclose(init.user_vectors_[1], expected[0], atol=1e-5)
    assert "user_embeddings" not in _init().fit_transform(small_data).artifacts
    users_only = _init(target="users").fit_transform(small_data).artifacts
    assert sorted(users_only) == ["user_embeddings"]


def test_user_vectors_see_training_rows_only(small_data):
    # a held-out interaction changes nobody's vector: only the rows given to fit count
    train = small_data.iloc[[0, 1, 2, 3, 5]]  # user 2's latest row (item "a") held out
    full = _init(target="both").fit(small_data).user_vectors_
    held_out_user = small_data.user_codes[4]
    partial = _init(target="both").fit(train).user_vectors_
    others = np.arange(small_data.n_users) != held_out_user
    np.testing.assert_allclose(partial[others], full[others], atol=1e-6)
    assert not np.allclose(partial[held_out_user], full[held_out_user])


def test_unknown_users_get_zero_vectors(small_data):
    init = _init(target="both").fit(small_data.iloc[:3])
    out = init.transform(small_data).artifacts["user_embeddings"].vectors
    known = small_data.user_ids.isin(init.user_ids_)
    assert np.all(out[~known] == 0) and np.any(out[known] != 0)


def test_pca_then_rescaled_to_target_std(small_data):
    init = _init(target_std=0.25).fit(small_data)
    texts = small_data.item_text()
    has_text = (texts != "").to_numpy()
    raw = HashingEncoder(embed_dim=16).embed(texts[has_text].tolist())
    expected = PCA(2, random_state=0).fit_transform(raw)
    np.testing.assert_allclose(init.vectors_[has_text], expected * init.scale_, atol=1e-5)
    assert init.vectors_[has_text].std() == pytest.approx(0.25, rel=1e-4)
    unscaled = _init(target_std=None).fit(small_data)
    assert unscaled.scale_ == 1.0
    np.testing.assert_allclose(unscaled.vectors_[has_text], expected, atol=1e-5)


def test_whitened_pca_gives_every_component_the_target_std(small_data):
    plain = _init(target_std=0.1).fit(small_data)
    white = _init(target_std=0.1, whiten=True).fit(small_data)
    has_text = np.any(plain.vectors_ != 0, axis=1)
    stds = plain.vectors_[has_text].std(axis=0)
    assert stds.max() > 1.2 * stds.min()  # PCA's decreasing variances
    np.testing.assert_allclose(white.vectors_[has_text].std(axis=0), 0.1, rtol=1e-3)
    # the same directions, each rescaled: correlation 1 per component
    for j in range(2):
        r = np.corrcoef(plain.vectors_[has_text, j], white.vectors_[has_text, j])[0, 1]
        assert abs(r) == pytest.approx(1, abs=1e-4)


def test_item_without_text_gets_zero_row_and_is_not_sent(small_data):
    encoder = RecordingEncoder(embed_dim=8)
    init = _init(encoder=encoder).fit(small_data)
    c = small_data.encode_items(["c"])[0]
    assert not init.vectors_[c].any()
    assert "" not in encoder.texts and len(encoder.texts) == 3
    assert init.vectors_[small_data.encode_items(["d"])[0]].any()  # cold item, has text


def test_each_distinct_text_is_embedded_once():
    items = pd.DataFrame({"title": ["same", "same", "other"]}, index=[1, 2, 3])
    data = InteractionData.from_pandas(pd.DataFrame({"user_id": [0, 0, 1],
                                                     "item_id": [1, 2, 3]}), items)
    encoder = RecordingEncoder(embed_dim=8)
    init = _init(encoder=encoder, n_components=None, reduction=None).fit(data)
    assert sorted(encoder.texts) == ["other", "same"]
    np.testing.assert_array_equal(init.vectors_[0], init.vectors_[1])


@pytest.mark.parametrize("reduction, n_components, width", [
    ("random_projection", 5, 5), (None, None, 16), ("pca", None, 3)])
def test_reductions(small_data, reduction, n_components, width):
    init = _init(reduction=reduction, n_components=n_components).fit(small_data)
    assert init.vectors_.shape == (small_data.n_items, width) == (4, init.n_components_)
    assert init.encoder_dim_ == 16
    # the vectors are an artifact, not output columns: no feature names, no set_output
    assert not hasattr(init, "get_feature_names_out") and not hasattr(init, "set_output")


def test_transform_aligns_ids_by_value(small_data):
    init = _init().fit(small_data)
    items = small_data.items.loc[["d", "a"]]
    other = InteractionData.from_pandas(
        pd.DataFrame({"user_id": [9, 9], "item_id": ["d", "a"]}), items)
    vectors = init.transform(other).artifacts["item_embeddings"].vectors
    np.testing.assert_array_equal(vectors, init.vectors_[small_data.encode_items(["d", "a"])])


def test_unseen_items_encoded_without_refitting_or_zeros(small_data):
    init = _init().fit(small_data)  # unseen_items="encode" is the default
    pca = init.reducer_
    items = pd.DataFrame({"title": ["galaxy rocket", "brand new words"],
                          "genre": ["space", None]}, index=["new", "a"])
    other = InteractionData.from_pandas(
        pd.DataFrame({"user_id": [9, 9], "item_id": ["new", "a"]}), items)
    encoded = init.transform(other).artifacts["item_embeddings"].vectors
    a = small_data.encode_items(["a"])[0]
    # "new" has a's fit-time text: same vector through the fitted PCA and scale.
    np.testing.assert_allclose(encoded[0], init.vectors_[a], atol=1e-6)
    np.testing.assert_array_equal(encoded[1], init.vectors_[a])  # known id: fitted vector
    assert init.reducer_ is pca
    no_table = InteractionData.from_pandas(
        pd.DataFrame({"user_id": [9, 9], "item_id": ["new", "a"]}))
    no_text = init.transform(no_table).artifacts["item_embeddings"].vectors
    assert not no_text[0].any() and (no_text[1] == init.vectors_[a]).all()
    init.set_params(unseen_items="zeros")
    init.encoder_ = RaisingEncoder()  # "zeros" never calls the encoder
    zeros = init.transform(other)
    assert not zeros.artifacts["item_embeddings"].vectors[0].any()
    init.set_params(unseen_items="error")
    with pytest.raises(ValueError, match=r"1 items were not seen at fit \(\['new'\]\)"):
        init.transform(other)


def test_transform_needs_no_encoder_after_fit(small_data):
    init = _init(target="both", unseen_users="encode").fit(small_data)
    expected = init.transform(small_data).artifacts["item_embeddings"].vectors
    init.encoder_ = RaisingEncoder()  # fitted ids are never re-embedded
    got = init.transform(small_data.iloc[[0, 3]]).artifacts["item_embeddings"].vectors
    np.testing.assert_array_equal(got, expected)


def test_attached_vectors_are_a_copy(small_data):
    init = _init().fit(small_data)
    before = init.vectors_.copy()
    init.transform(small_data).artifacts["item_embeddings"].vectors[:] = 7.0
    np.testing.assert_array_equal(init.vectors_, before)


def test_clone_and_pickle(small_data):
    init = _init(mode="frozen")
    assert clone(init).get_params()["mode"] == "frozen"
    fitted = init.fit(small_data)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        restored.transform(small_data).artifacts["item_embeddings"].vectors, fitted.vectors_)


def test_init_stores_params_only():
    init = LLMEmbeddingInitializer(encoder="not an encoder", mode="bogus", n_components=-3)
    assert init.mode == "bogus" and init.n_components == -3


@pytest.mark.parametrize("params, match", [
    ({"target": "user"}, "'target' parameter"),
    ({"max_history": 0}, "'max_history' parameter"),
    ({"unseen_users": "mean"}, "'unseen_users' parameter"),
    ({"verbose": "loud"}, "'verbose' parameter"),
    ({"mode": "bogus"}, "'mode' parameter"),
    ({"reduction": "svd"}, "'reduction' parameter"),
    ({"n_components": 0}, "'n_components' parameter"),
    ({"n_components": 2.5}, "'n_components' parameter"),
    ({"target_std": 0}, "'target_std' parameter"),
    ({"unseen_items": "drop"}, "'unseen_items' parameter"),
    ({"add_id_embedding": "yes"}, "'add_id_embedding' parameter"),
    ({"n_components": 10}, "PCA cannot give n_components=10 from 3 item texts"),
    ({"reduction": None, "n_components": 4}, "keeps the encoder's width"),
    ({"reduction": "random_projection", "n_components": None}, "integer n_components"),
    ({"reduction": "random_projection", "whiten": True}, "needs reduction='pca'"),
    ({"whiten": "yes"}, "'whiten' parameter"),
])
def test_bad_params_fail_at_fit(small_data, params, match):
    with pytest.raises(ValueError, match=match):
        _init(**params).fit(small_data)


def test_bad_encoders_and_data(small_data):
    with pytest.raises(TypeError, match="embed"):
        _init(encoder=object()).fit(small_data)

    class WrongShape:
        def embed(self, texts):
            return np.zeros((len(texts) + 1, 4))

    with pytest.raises(ValueError, match="one row per text"):
        _init(encoder=WrongShape()).fit(small_data)
    no_items = InteractionData.from_pandas(pd.DataFrame({"user_id": [1], "item_id": [2]}))
    with pytest.raises(ValueError, match="no items table"):
        _init().fit(no_items)
    with pytest.raises(TypeError, match="InteractionData"):
        _init().fit(pd.DataFrame({"user_id": [1], "item_id": [2]}))
