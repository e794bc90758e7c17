"""The torch recommenders as estimators: learning, determinism, API, devices."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from test_torch_data import (  # noqa: F401  (one_torch_thread is an autouse fixture)
    Popularity,
    clustered_data,
    cuda,
    cyclic_data,
    fitted,
    leave_last_out,
    make_model,
    one_torch_thread,
)

from skllmers import EmbeddingInit, GuidanceTargets
from skllmers.recommenders import BPRRecommender, LightGCNRecommender, SASRecRecommender

MODELS = ["bpr", "lightgcn", "sasrec"]


@pytest.fixture(scope="module")
def clustered_split():
    return leave_last_out(clustered_data())


@pytest.fixture(scope="module")
def cyclic_split():
    return leave_last_out(cyclic_data())


# ---------------------------------------------------------------------- learning
@pytest.mark.parametrize("name", MODELS)
def test_beats_popularity_on_clustered_data(name, clustered_split):
    train, test = clustered_split
    baseline = Popularity().fit(train).score(test)
    assert fitted(name, train).score(test) > baseline + 0.15


def test_sasrec_learns_the_order_that_others_cannot(cyclic_split):
    train, test = cyclic_split
    sasrec = fitted("sasrec", train).score(test)
    assert sasrec > 0.85
    assert sasrec > fitted("bpr", train).score(test) + 0.2
    assert sasrec > Popularity().fit(train).score(test) + 0.5


def test_sasrec_recommends_after_the_latest_training_item(cyclic_split):
    train, _ = cyclic_split
    model = fitted("sasrec", train)
    indptr, items = train.user_sequences(random_state=0)
    latest = np.asarray(train.item_ids)[items[indptr[1:] - 1]]
    top = model.recommend(train.user_ids, k=1, exclude_seen=False)["item_id"].to_numpy()
    assert np.mean(top == (latest + 1) % 30) > 0.85


@pytest.mark.parametrize("loss", ["bpr", "bce", "sampled_softmax"])
@pytest.mark.parametrize("name", MODELS)
def test_every_loss_trains(name, loss, clustered_split):
    train, test = clustered_split
    model = make_model(name, loss=loss, n_negatives=8 if loss == "sampled_softmax" else 2)
    model.fit(train)
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    assert model.score(test) > Popularity().fit(train).score(test)


def test_lightgcn_without_layers_is_bpr(clustered_split):
    train, _ = clustered_split
    lightgcn = make_model("lightgcn", n_layers=0).fit(train)
    params = {k: v for k, v in lightgcn.get_params().items() if k != "n_layers"}
    bpr = BPRRecommender(**params).fit(train)
    np.testing.assert_allclose(lightgcn.item_factors_, bpr.item_factors_, atol=1e-5)
    np.testing.assert_allclose(lightgcn.user_factors_, bpr.user_factors_, atol=1e-5)


def test_lightgcn_propagation_smooths_over_the_graph(clustered_split):
    # a user's representation is (in part) the mean of their items': the user factors
    # of LightGCN lie closer to their items' mean than those of MF
    train, _ = clustered_split
    seen = train.to_csr(values="ones")
    seen = seen.multiply(1 / seen.sum(axis=1)).tocsr()

    def closeness(model):
        mean_items = seen @ model.item_factors_
        return np.mean(np.sum(_unit(mean_items) * _unit(model.user_factors_), axis=1))

    assert closeness(fitted("lightgcn", train)) > closeness(fitted("bpr", train))


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ---------------------------------------------------------------------- determinism
@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_model(name, clustered_split):
    train, _ = clustered_split
    first, second = fitted(name, train), make_model(name).fit(train)
    np.testing.assert_array_equal(first.item_factors_, second.item_factors_)
    np.testing.assert_array_equal(first.user_factors_, second.user_factors_)
    assert first.loss_curve_ == second.loss_curve_
    other = make_model(name, random_state=1).fit(train)
    assert not np.allclose(first.item_factors_, other.item_factors_)


def test_fit_leaves_the_global_torch_random_state_alone(clustered_split):
    train, _ = clustered_split
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make_model("sasrec").fit(train)
    assert torch.equal(torch.rand(3), expected)


def test_random_state_none_draws_from_numpy_global_state(clustered_split):
    train, _ = clustered_split
    np.random.seed(0)
    first = make_model("bpr", random_state=None, epochs=1).fit(train)
    np.random.seed(0)
    second = make_model("bpr", random_state=None, epochs=1).fit(train)
    third = make_model("bpr", random_state=None, epochs=1).fit(train)
    np.testing.assert_array_equal(first.item_factors_, second.item_factors_)
    assert not np.allclose(first.item_factors_, third.item_factors_)


# ---------------------------------------------------------------------- estimator API
@pytest.mark.parametrize("cls", [BPRRecommender, LightGCNRecommender, SASRecRecommender])
def test_init_stores_parameters_only(cls):
    model = cls(n_factors=8, epochs=3)
    assert model.get_params()["n_factors"] == 8
    assert not [k for k in vars(model) if k.endswith("_")]
    cloned = clone(model.set_params(learning_rate=0.5))
    assert cloned.get_params() == model.get_params()


@pytest.mark.parametrize("name", MODELS)
def test_fitted_model_is_numpy_only_and_pickles(name, clustered_split):
    train, test = clustered_split
    model = make_model(name, epochs=2).fit(train)
    tensors = [k for k, v in vars(model).items() if isinstance(v, (torch.Tensor, torch.nn.Module))]
    assert tensors == []
    assert model.user_factors_.dtype == model.item_factors_.dtype == np.float32
    restored = pickle.loads(pickle.dumps(model))
    users = train.user_ids[:5]
    assert restored.recommend(users).equals(model.recommend(users))
    np.testing.assert_array_equal(restored.predict(test), model.predict(test))


@pytest.mark.parametrize("name", MODELS)
def test_fitted_attributes(name, clustered_split):
    train, _ = clustered_split
    model = make_model(name, epochs=3).fit(train)
    assert model.user_factors_.shape == (train.n_users, 16)
    assert model.item_factors_.shape == (train.n_items, 16)
    assert model.n_iter_ == 3 and len(model.loss_curve_) == 3
    assert model.validation_scores_ is None and model.best_validation_score_ is None
    assert model.device_ == torch.device("cpu")
    similar = model.similar_items(train.item_ids[:2], k=3)
    assert len(similar) == 6


@pytest.mark.parametrize("params, message", [
    (dict(loss="hinge"), "loss"),
    (dict(n_factors=0), "n_factors"),
    (dict(learning_rate=0), "learning_rate"),
    (dict(validation_fraction=1.0), "validation_fraction"),
    (dict(adapter="transformer"), "adapter"),
    (dict(device=3), "device"),
    (dict(negative_sampling="hard"), "negative_sampling"),
    (dict(optimizer="lbfgs"), "optimizer"),
    (dict(init_std=0.0), "init_std"),
    (dict(n_jobs=0), "n_jobs"),
])
def test_invalid_parameters_raise(params, message, clustered_split):
    train, _ = clustered_split
    with pytest.raises(ValueError, match=message):
        make_model("bpr", **params).fit(train)


# ---------------------------------------------------------------------- BPR like implicit
IMPLICIT_STYLE = dict(optimizer="sgd", batch_size=1, negative_sampling="popularity",
                      learning_rate=0.01, weight_decay=0.01, init_std=0.01, epochs=100)


def test_implicit_style_bpr_learns(clustered_split):
    train, test = clustered_split
    baseline = Popularity().fit(train).score(test)
    assert make_model("bpr", **IMPLICIT_STYLE).fit(train).score(test) > baseline + 0.15


def test_sgd_moves_each_sample_by_the_learning_rate(clustered_split, monkeypatch):
    # the batch loss is a mean, so SGD's step must be learning_rate x batch length
    train, _ = clustered_split
    steps = []
    original = torch.optim.SGD.step

    def record(optimizer, *args, **kwargs):
        steps.append([group["lr"] for group in optimizer.param_groups])
        return original(optimizer, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", record)
    make_model("bpr", optimizer="sgd", learning_rate=0.01, batch_size=300, epochs=1).fit(train)
    n_rows = len(train)
    expected = [0.01 * min(300, n_rows - start) for start in range(0, n_rows, 300)]
    assert [lrs[0] for lrs in steps] == pytest.approx(expected)


def test_hogwild_threads_learn_like_one(clustered_split):
    train, test = clustered_split
    one = make_model("bpr", **IMPLICIT_STYLE).fit(train)
    several = make_model("bpr", **IMPLICIT_STYLE, n_jobs=2).fit(train)
    assert several.score(test) == pytest.approx(one.score(test), abs=0.05)
    assert several.loss_curve_[-1] < several.loss_curve_[0]


@pytest.mark.parametrize("params", [
    dict(), dict(optimizer="sgd"), dict(optimizer="sgd", batch_size=1, loss="bce"),
])
def test_threads_of_the_torch_paths_are_torchs(params, clustered_split):
    train, _ = clustered_split
    with pytest.raises(ValueError, match="n_jobs=2 sets the threads of the compiled SGD"):
        make_model("bpr", n_jobs=2, epochs=1, **params).fit(train)


def test_init_std_sets_the_scale_of_the_random_embeddings(clustered_split):
    train, _ = clustered_split
    for std in (0.01, 0.5):
        model = make_model("bpr", init_std=std, epochs=1, learning_rate=1e-6).fit(train)
        assert model.item_factors_.std() == pytest.approx(std, rel=0.1)


@pytest.mark.parametrize("artifact", ["item_features", "frozen", "guidance"])
def test_sgd_refuses_artifacts_that_add_trainable_modules(artifact, clustered_split):
    train, _ = clustered_split
    vectors = np.random.default_rng(0).normal(size=(train.n_items, 16)).astype(np.float32)
    data = train.with_artifacts(**{
        "item_features": {"item_features": vectors},
        "frozen": {"item_embeddings": EmbeddingInit(vectors, mode="frozen")},
        "guidance": {"guidance": GuidanceTargets(vectors, weight=0.1)},
    }[artifact])
    with pytest.raises(ValueError, match="optimizer='sgd'.*need optimizer='adam'"):
        make_model("bpr", optimizer="sgd").fit(data)


def test_sgd_trains_from_init_embeddings(clustered_split):
    train, _ = clustered_split
    vectors = np.random.default_rng(0).normal(size=(train.n_items, 16)).astype(np.float32)
    data = train.with_artifacts(item_embeddings=EmbeddingInit(vectors, mode="init"))
    model = make_model("bpr", optimizer="sgd", learning_rate=0.01, epochs=1).fit(data)
    assert not np.allclose(model.item_factors_, vectors)


def test_popularity_sampling_needs_per_sample_negatives(clustered_split):
    train, _ = clustered_split
    with pytest.raises(ValueError, match="'popularity'.*sampled_softmax"):
        make_model("bpr", negative_sampling="popularity", loss="sampled_softmax").fit(train)


def test_sasrec_heads_must_divide_the_width(clustered_split):
    train, _ = clustered_split
    with pytest.raises(ValueError, match="n_heads=3 must divide n_factors=16"):
        make_model("sasrec", n_heads=3).fit(train)


def test_sasrec_needs_a_user_with_two_rows():
    train, _ = leave_last_out(clustered_data())
    singles = train.take(np.unique(train.user_codes, return_index=True)[1])
    with pytest.raises(ValueError, match="at least 2 training rows"):
        make_model("sasrec").fit(singles)


def test_all_rows_of_weight_zero_raise(clustered_split):
    train, _ = clustered_split
    with pytest.raises(ValueError, match="weight 0"):
        make_model("bpr").fit(train.with_weights(np.zeros(len(train))))


@pytest.mark.parametrize("name", MODELS)
def test_cold_items_and_users_of_the_id_maps_are_kept(name):
    data = clustered_data()
    # the first 10 users' rows are removed but their codes stay in the id maps
    train = data.take(np.flatnonzero(data.user_codes >= 10))
    model = make_model(name, epochs=2).fit(train)
    assert model.user_factors_.shape[0] == data.n_users
    assert len(model.recommend(data.user_ids[:2], k=5)) == 10


def test_verbose_shows_a_progress_bar(clustered_split, capsys):
    train, _ = clustered_split
    make_model("bpr", epochs=2, verbose=True).fit(train)
    assert "BPRRecommender" in capsys.readouterr().err


# ---------------------------------------------------------------------- early stopping
@pytest.mark.parametrize("name, extra", [(name, {}) for name in MODELS] + [
    ("bpr", dict(optimizer="sgd", batch_size=1)),  # the compiled loop updates in place
])
def test_early_stopping_keeps_the_best_epoch(name, extra, clustered_split):
    train, _ = clustered_split
    params = dict(early_stopping=True, n_iter_no_change=2, epochs=30, learning_rate=0.05,
                  **extra)
    model = make_model(name, **params).fit(train)
    scores = model.validation_scores_
    best = int(np.argmax(scores))
    assert len(scores) == model.n_iter_
    assert model.best_validation_score_ == scores[best]
    assert model.n_iter_ in (params["epochs"], best + 1 + params["n_iter_no_change"])
    # the same fit stopped right after the best epoch ends with the kept weights
    shorter = make_model(name, **{**params, "epochs": best + 1}).fit(train)
    np.testing.assert_array_equal(model.item_factors_, shorter.item_factors_)
    np.testing.assert_array_equal(model.user_factors_, shorter.user_factors_)


def test_early_stopping_stops_a_diverging_model(clustered_split):
    train, _ = clustered_split
    model = make_model("bpr", early_stopping=True, n_iter_no_change=1, epochs=50,
                       learning_rate=0.3, weight_decay=0.0)
    model.fit(train)
    assert model.n_iter_ < 50


def test_early_stopping_without_validation_rows_raises():
    train, _ = leave_last_out(cyclic_data(n_users=3, length=2))
    with pytest.raises(ValueError, match="no validation row"):
        make_model("sasrec", early_stopping=True).fit(train)


# ---------------------------------------------------------------------- devices
def test_auto_device_is_cuda_when_torch_sees_a_gpu(clustered_split):
    train, _ = clustered_split
    model = make_model("bpr", epochs=1, device="auto").fit(train)
    assert model.device_.type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_raises_a_clear_error(clustered_split):
    train, _ = clustered_split
    with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
        make_model("bpr", device="cuda").fit(train)


def test_unknown_device_raises(clustered_split):
    train, _ = clustered_split
    with pytest.raises(ValueError, match="not a torch device"):
        make_model("bpr", device="gpu-please").fit(train)


@cuda
@pytest.mark.parametrize("name", MODELS)
def test_trains_on_cuda_and_serves_with_numpy(name, clustered_split):
    train, test = clustered_split
    model = make_model(name, device="cuda").fit(train)
    assert model.device_.type == "cuda"
    assert isinstance(model.item_factors_, np.ndarray)
    assert model.score(test) > Popularity().fit(train).score(test) + 0.1
    restored = pickle.loads(pickle.dumps(model))
    assert restored.recommend(train.user_ids[:3]).equals(model.recommend(train.user_ids[:3]))


@cuda
@pytest.mark.parametrize("name", MODELS)
def test_same_seed_on_cuda_agrees_up_to_rounding(name, clustered_split):
    # CUDA's atomic scatter-adds sum in no fixed order: the last bits may differ
    train, _ = clustered_split
    first = make_model(name, device="cuda").fit(train)
    second = make_model(name, device="cuda").fit(train)
    np.testing.assert_allclose(first.item_factors_, second.item_factors_, atol=1e-4)
    np.testing.assert_allclose(first.user_factors_, second.user_factors_, atol=1e-4)
    other = make_model(name, device="cuda", random_state=1).fit(train)
    assert not np.allclose(first.item_factors_, other.item_factors_, atol=1e-2)
