"""Building blocks of the torch recommenders: sampling, losses, graph, windows, rows."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_torch_data import clustered_data, make_model, one_torch_thread  # noqa: F401

from skllmers import EmbeddingInit, GuidanceTargets
from skllmers.recommenders import _bpr
from skllmers.recommenders._torch import _sampling
from skllmers.recommenders._torch._analytic import AnalyticBPR
from skllmers.recommenders._torch._compiled_sgd import CompiledBPR
from skllmers.recommenders._torch._device import Seeds, resolve_device, seeded_torch
from skllmers.recommenders._torch._embeddings import EntityEmbedding
from skllmers.recommenders._torch._graph import normalized_adjacency, propagate
from skllmers.recommenders._torch._guidance import (
    MAX_ALIGNED_ROWS,
    GuidanceHead,
    nearest_neighbors,
)
from skllmers.recommenders._torch._losses import l2_penalty, ranking_loss
from skllmers.recommenders._torch._pairwise import PairwiseBatch, PairwiseSampler, pairwise_loss
from skllmers.recommenders._torch._rows import TrainingRows
from skllmers.recommenders._torch._sampling import KnownPairs, sample_negatives
from skllmers.recommenders._torch._sequences import latest_histories, training_windows

CPU = torch.device("cpu")


def rows_of(users, items, n_users, n_items, weights=None, augmented=None):
    users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
    weights = np.ones(len(users), np.float32) if weights is None else np.asarray(weights,
                                                                                 np.float32)
    augmented = np.zeros(len(users), bool) if augmented is None else np.asarray(augmented, bool)
    return TrainingRows(users, items, weights, augmented, n_users, n_items)


# ---------------------------------------------------------------------- sampling
@pytest.mark.parametrize("bitmap", [True, False])
def test_known_pairs_membership(bitmap, monkeypatch):
    if not bitmap:
        monkeypatch.setattr(_sampling, "_BITMAP_MAX_CELLS", 0)
    known = KnownPairs([0, 0, 2], [1, 3, 0], n_users=3, n_items=4)
    users = np.array([[0], [1], [2]])
    assert known.contains(users, np.array([[1, 2, 3]])).tolist() == [
        [True, False, True], [False, False, False], [False, False, False]]
    assert known.contains(np.array([2]), np.array([0])).tolist() == [True]


def test_known_pairs_without_pairs(monkeypatch):
    monkeypatch.setattr(_sampling, "_BITMAP_MAX_CELLS", 0)
    known = KnownPairs([], [], n_users=2, n_items=2)
    assert not known.contains(np.array([0, 1]), np.array([1, 0])).any()


def test_negatives_avoid_known_items_and_cover_the_rest():
    rng = np.random.default_rng(0)
    n_items = 10
    users = np.repeat(np.arange(3), 4)
    items = np.concatenate([np.arange(4), np.arange(4, 8), [0, 1, 2, 3]])
    known = KnownPairs(users, items, 3, n_items)
    query = np.repeat(np.arange(3), 2000)
    negatives = sample_negatives(rng, query, n_items, known, n_negatives=3)
    assert negatives.shape == (6000, 3) and negatives.dtype == np.int64
    assert not known.contains(query[:, None], negatives).any()
    counts = np.bincount(negatives[query == 0].ravel(), minlength=n_items)
    assert np.all(counts[:4] == 0) and counts[4:].min() > 0.8 * counts[4:].mean()


def test_a_user_who_knows_everything_still_gets_negatives():
    known = KnownPairs([0, 0], [0, 1], 1, 2)
    negatives = sample_negatives(np.random.default_rng(0), np.zeros(5, np.int64), 2, known)
    assert negatives.shape == (5, 1)


# ---------------------------------------------------------------------- losses
def test_ranking_losses_match_their_formulas():
    pos = torch.tensor([2.0, -1.0])
    neg = torch.tensor([[1.0, 0.0], [0.5, -3.0]])
    torch.testing.assert_close(ranking_loss("bpr", pos, neg),
                               F.softplus(neg - pos[:, None]).mean(1))
    torch.testing.assert_close(ranking_loss("bce", pos, neg),
                               F.softplus(-pos) + F.softplus(neg).mean(1))
    logits = torch.cat([pos[:, None], neg], 1)
    torch.testing.assert_close(ranking_loss("sampled_softmax", pos, neg),
                               -F.log_softmax(logits, 1)[:, 0])


def test_masked_negatives_do_not_count():
    pos, neg = torch.tensor([1.0]), torch.tensor([[0.0, 5.0]])
    valid = torch.tensor([[True, False]])
    for kind in ("bpr", "bce", "sampled_softmax"):
        torch.testing.assert_close(ranking_loss(kind, pos, neg, valid),
                                   ranking_loss(kind, pos, neg[:, :1]))


def test_unknown_loss_raises():
    with pytest.raises(ValueError, match="hinge"):
        ranking_loss("hinge", torch.zeros(1), torch.zeros(1, 1))


def test_l2_penalty_is_half_the_squared_norm_per_sample():
    rows = [torch.ones(4, 2), torch.full((4, 2), 2.0)]
    assert l2_penalty(rows, 4).item() == pytest.approx((8 + 32) / 8)


# ---------------------------------------------------------------------- graph
def test_popularity_negatives_follow_the_rows_and_flag_known_items():
    # item 0 has 6 rows, items 1-4 one each; user 0 knows items 0 and 1
    users = np.array([0, 0, 1, 2, 3, 4, 5, 6, 7, 8])
    items = np.array([0, 1, 0, 0, 0, 0, 0, 2, 3, 4])
    rows = rows_of(users, items, n_users=9, n_items=6)
    known = KnownPairs(users, items, 9, 6)
    sampler = PairwiseSampler(rows, known, None, loss="bpr", n_negatives=50, batch_size=64,
                              device=CPU, popularity=True)
    batch = next(sampler.epoch(np.random.default_rng(0)))
    negatives, valid = batch.negatives.numpy(), batch.valid.numpy()
    assert set(np.unique(negatives)) <= {0, 1, 2, 3, 4}  # item 5 has no row: never drawn
    assert 0.45 < (negatives == 0).mean() < 0.75  # item 0: 6 of 10 rows
    np.testing.assert_array_equal(valid, ~known.contains(batch.users.numpy()[:, None],
                                                         negatives))
    assert not valid.all()


def test_uniform_negatives_count_everywhere():
    rows = rows_of([0, 1, 2], [0, 1, 2], n_users=3, n_items=8)
    sampler = PairwiseSampler(rows, KnownPairs([0, 1, 2], [0, 1, 2], 3, 8), None,
                              loss="bpr", n_negatives=4, batch_size=8, device=CPU)
    assert next(sampler.epoch(np.random.default_rng(0))).valid is None


# ---------------------------------------------------------------------- analytic BPR
def autograd_bpr_gradients(users, items, batch, weight_decay):
    users = users.clone().requires_grad_()
    items = items.clone().requires_grad_()
    user_rows = users.index_select(0, batch.users)
    loss, _, used = pairwise_loss("bpr", batch, user_rows, lambda c: items.index_select(0, c))
    loss = loss + weight_decay * l2_penalty([user_rows, *used], len(batch.users))
    loss.backward()
    return loss.detach(), users.grad, items.grad


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("n_negatives", [1, 3])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_analytic_bpr_gradients_are_autograd_s(n_negatives, weight_decay, masked):
    generator = torch.Generator().manual_seed(0)
    users, items = torch.randn(7, 5, generator=generator), torch.randn(11, 5, generator=generator)
    valid = None
    if masked:  # some negatives do not count, and the first sample has none that does
        valid = torch.rand(6, n_negatives, generator=generator) > 0.4
        valid[0] = False
    batch = PairwiseBatch(
        users=torch.tensor([0, 3, 3, 6, 1, 0]), items=torch.tensor([2, 2, 9, 0, 10, 4]),
        weights=torch.tensor([1.0, 0.5, 2.0, 1.0, 0.0, 1.0]),
        negatives=torch.randint(11, (6, n_negatives), generator=generator),
        shared=None, explicit=None, valid=valid)
    expected = autograd_bpr_gradients(users, items, batch, weight_decay)
    user_table = torch.nn.Parameter(users.clone())
    item_table = torch.nn.Parameter(items.clone())
    loss = AnalyticBPR(user_table, item_table, weight_decay).set_gradients(batch)
    torch.testing.assert_close(loss, expected[0])
    torch.testing.assert_close(user_table.grad, expected[1])
    torch.testing.assert_close(item_table.grad, expected[2])
    torch.testing.assert_close(user_table.detach(), users)  # gradients only, no step


def count_analytic_steps(monkeypatch):
    calls = []
    original = AnalyticBPR.set_gradients

    def counted(self, batch):
        calls.append(1)
        return original(self, batch)

    monkeypatch.setattr(AnalyticBPR, "set_gradients", counted)
    return calls


def test_plain_bpr_trains_like_the_autograd_path(monkeypatch):
    train = clustered_data()
    analytic = make_model("bpr", n_negatives=2).fit(train)
    monkeypatch.setattr(_bpr, "is_plain_table", lambda table: False)
    graph = make_model("bpr", n_negatives=2).fit(train)
    np.testing.assert_allclose(analytic.item_factors_, graph.item_factors_, atol=1e-4)
    np.testing.assert_allclose(analytic.user_factors_, graph.user_factors_, atol=1e-4)
    np.testing.assert_allclose(analytic.loss_curve_, graph.loss_curve_, rtol=1e-5)


@pytest.mark.parametrize("variant, analytic", [
    ("plain", True), ("init", True), ("features", False), ("frozen", False),
    ("guidance", False), ("bce", False),
])
def test_only_the_plain_bpr_takes_the_analytic_path(variant, analytic, monkeypatch):
    train = clustered_data()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(train.n_items, 16)).astype(np.float32)
    artifacts = {
        "init": {"item_embeddings": EmbeddingInit(vectors, mode="init")},
        "features": {"item_features": vectors},
        "frozen": {"item_embeddings": EmbeddingInit(vectors, mode="frozen")},
        "guidance": {"guidance": GuidanceTargets(vectors, weight=0.1)},
    }.get(variant, {})
    calls = count_analytic_steps(monkeypatch)
    params = {"loss": "bce"} if variant == "bce" else {}
    make_model("bpr", epochs=1, **params).fit(train.with_artifacts(**artifacts))
    assert bool(calls) is analytic


# ---------------------------------------------------------------------- compiled SGD
def one_sample_at_a_time(users, items, samples, learning_rate, weight_decay):
    """The torch path with batches of one sample: AnalyticBPR, then an SGD step."""
    users, items = torch.nn.Parameter(users.clone()), torch.nn.Parameter(items.clone())
    analytic = AnalyticBPR(users, items, weight_decay)
    optimizer = torch.optim.SGD([users, items], lr=learning_rate)
    losses = []
    for s in range(len(samples.users)):
        losses.append(analytic.set_gradients(samples.sample_slice(slice(s, s + 1))))
        optimizer.step()
    return float(torch.stack(losses).mean()), users.detach(), items.detach()


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("n_negatives", [1, 3])
def test_compiled_sgd_takes_the_torch_steps_one_sample_at_a_time(n_negatives, masked):
    generator = torch.Generator().manual_seed(0)
    users, items = torch.randn(7, 5, generator=generator), torch.randn(11, 5, generator=generator)
    negatives = torch.randint(11, (8, n_negatives), generator=generator)
    negatives[1, 0] = 2  # the sample's own positive: the item then takes both its steps
    valid = None
    if masked:  # some negatives do not count, and the first sample has none that does
        valid = torch.rand(8, n_negatives, generator=generator) > 0.4
        valid[0] = False
    samples = PairwiseBatch(
        users=torch.tensor([0, 3, 3, 6, 1, 0, 3, 5]), items=torch.tensor([2, 2, 9, 0, 10, 4, 2, 7]),
        weights=torch.tensor([1.0, 0.5, 2.0, 1.0, 0.0, 1.0, 1.0, 3.0]),
        negatives=negatives, shared=None, explicit=None, valid=valid)
    loss, expected_users, expected_items = one_sample_at_a_time(users, items, samples, 0.3, 0.05)
    user_table = torch.nn.Parameter(users.clone())
    item_table = torch.nn.Parameter(items.clone())
    compiled = CompiledBPR(user_table, item_table, learning_rate=0.3, weight_decay=0.05)
    assert compiled.run_epoch(samples) == pytest.approx(loss, rel=1e-5)
    torch.testing.assert_close(user_table.detach(), expected_users)  # updated in place
    torch.testing.assert_close(item_table.detach(), expected_items)
    assert not torch.allclose(item_table.detach(), items)


def test_hogwild_threads_step_disjoint_parts_as_one_thread_would():
    # the two halves of the samples share no user and no item: no thread sees the
    # other's steps, so two threads must give exactly the one-thread result
    generator = torch.Generator().manual_seed(0)
    users, items = torch.randn(6, 8, generator=generator), torch.randn(10, 8, generator=generator)
    first = torch.randint(0, 5, (40, 2), generator=generator)
    second = torch.randint(5, 10, (40, 2), generator=generator)
    samples = PairwiseBatch(
        users=torch.cat([torch.randint(0, 3, (40,), generator=generator),
                         torch.randint(3, 6, (40,), generator=generator)]),
        items=torch.cat([first[:, 0], second[:, 0]]), weights=torch.ones(80),
        negatives=torch.cat([first[:, 1:], second[:, 1:]]), shared=None, explicit=None)
    results = []
    for n_threads in (1, 2):
        tables = torch.nn.Parameter(users.clone()), torch.nn.Parameter(items.clone())
        loss = CompiledBPR(*tables, 0.1, 0.01, n_threads=n_threads).run_epoch(samples)
        results.append((loss, *(table.detach() for table in tables)))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-6)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=0, atol=0)
    torch.testing.assert_close(results[1][2], results[0][2], rtol=0, atol=0)


def count_compiled_epochs(monkeypatch):
    calls = []
    original = CompiledBPR.run_epoch

    def counted(self, samples):
        calls.append(len(samples.users))
        return original(self, samples)

    monkeypatch.setattr(CompiledBPR, "run_epoch", counted)
    return calls


@pytest.mark.parametrize("sampling", ["uniform", "popularity"])
def test_one_sample_sgd_fits_alike_compiled_or_in_torch(sampling, monkeypatch):
    train = clustered_data()
    params = dict(optimizer="sgd", batch_size=1, epochs=2, learning_rate=0.05,
                  negative_sampling=sampling, n_negatives=2)
    calls = count_compiled_epochs(monkeypatch)
    compiled = make_model("bpr", **params).fit(train)
    assert calls == [len(train)] * 2  # every row, once per epoch, in one call
    monkeypatch.setattr(_bpr.BPRRecommender, "_compiled_sgd", lambda *args: None)
    in_torch = make_model("bpr", **params).fit(train)
    np.testing.assert_allclose(compiled.item_factors_, in_torch.item_factors_, atol=1e-5)
    np.testing.assert_allclose(compiled.user_factors_, in_torch.user_factors_, atol=1e-5)
    np.testing.assert_allclose(compiled.loss_curve_, in_torch.loss_curve_, rtol=1e-5)


@pytest.mark.parametrize("variant, compiled", [
    (dict(), True), (dict(batch_size=2), False), (dict(optimizer="adam"), False),
    (dict(loss="bce"), False), ("init", True), ("triples", False),
])
def test_only_one_sample_sgd_of_the_plain_bpr_is_compiled(variant, compiled, monkeypatch):
    train = clustered_data()
    params = dict(optimizer="sgd", batch_size=1, epochs=1)
    if variant == "init":
        vectors = np.random.default_rng(0).normal(size=(train.n_items, 16))
        train = train.with_artifacts(item_embeddings=EmbeddingInit(vectors.astype(np.float32)))
    elif variant == "triples":
        train = train.with_artifacts(negatives=np.array([[0, 0, 1]]))
    else:
        params.update(variant)
    calls = count_compiled_epochs(monkeypatch)
    make_model("bpr", **params).fit(train)
    assert bool(calls) is compiled


def test_adjacency_is_the_symmetrically_normalised_bipartite_graph():
    rows = rows_of([0, 0, 1, 1], [0, 1, 1, 1], n_users=3, n_items=3, weights=[1, 1, 1, 2])
    adjacency = normalized_adjacency(rows, CPU).to_dense().numpy()
    dense = np.zeros((6, 6), np.float32)
    for u, i, w in [(0, 0, 1), (0, 1, 1), (1, 1, 3)]:  # repeated pairs add their weights
        dense[u, 3 + i] = dense[3 + i, u] = w
    degree = dense.sum(1)
    inv_sqrt = np.where(degree > 0, degree, 1) ** -0.5 * (degree > 0)
    np.testing.assert_allclose(adjacency, inv_sqrt[:, None] * dense * inv_sqrt[None], rtol=1e-6)
    assert not adjacency[2].any() and not adjacency[5].any()  # nodes without edges


def test_propagation_gradient_matches_dense_autograd():
    rows = rows_of([0, 0, 1, 2], [0, 1, 1, 2], n_users=3, n_items=3)
    adjacency = normalized_adjacency(rows, CPU)
    dense = adjacency.to_dense()
    start = torch.randn(6, 4, dtype=torch.float32, requires_grad=True)
    weights = torch.randn(6, 4)
    (propagate(adjacency, start, 2) * weights).sum().backward()
    sparse_grad = start.grad.clone()
    start.grad = None
    layers = [start, dense @ start, dense @ (dense @ start)]
    ((sum(layers) / 3) * weights).sum().backward()
    torch.testing.assert_close(sparse_grad, start.grad)


# ---------------------------------------------------------------------- sequences
def test_windows_make_every_row_but_the_first_a_target_once():
    # user 0: items 0..6 in time order, user 1: a single row, user 2: items 7, 8
    rows = rows_of([0] * 7 + [1, 2, 2], list(range(7)) + [9, 7, 8], n_users=3, n_items=10,
                   weights=[1, 2, 3, 4, 5, 6, 7, 1, 1, 1])
    windows = training_windows(rows, max_len=3)
    pad = 10
    assert windows.users.tolist() == [0, 0, 2]
    assert windows.items.tolist() == [[3, 4, 5, 6], [0, 1, 2, 3], [pad, pad, 7, 8]]
    assert windows.weights[0].tolist() == [4, 5, 6, 7]
    assert windows.weights[2].tolist() == [0, 0, 1, 1]
    assert windows.pad == pad
    targets = windows.items[:, 1:][windows.has_target()]
    assert sorted(targets.tolist()) == [1, 2, 3, 4, 5, 6, 8]


def test_latest_histories_are_left_padded():
    rows = rows_of([0, 0, 0, 2], [4, 5, 6, 1], n_users=3, n_items=7)
    assert latest_histories(rows, 2).tolist() == [[5, 6], [7, 7], [7, 1]]


# ---------------------------------------------------------------------- rows
def test_training_rows_drop_weight_zero_and_keep_time_order():
    data = clustered_data(n_users=10)
    weights = np.ones(len(data), np.float32)
    weights[::3] = 0
    rows = TrainingRows.from_data(data.with_weights(weights), np.random.default_rng(0))
    assert len(rows) == int((weights > 0).sum()) and rows.weights.min() > 0
    assert np.all(np.diff(rows.users) >= 0)


def test_holdouts_take_real_rows_only():
    rows = rows_of([0, 0, 0, 0, 1, 1, 2, 2, 2], [0, 1, 2, 3, 0, 1, 0, 1, 2], 3, 4,
                   augmented=[0, 0, 0, 1, 0, 0, 0, 0, 0])
    rng = np.random.default_rng(0)
    random = rows.random_holdout(rng, 0.5)
    assert random.sum() == 4 and not random[3]
    last = rows.last_row_holdout(rng, 1.0)
    # user 0's latest real row (position 2); user 1 has too few rows; user 2's latest
    assert np.flatnonzero(last).tolist() == [2, 8]


# ---------------------------------------------------------------------- embeddings
def test_plain_embedding_is_an_id_table():
    torch.manual_seed(0)
    table = EntityEmbedding(5, 3)
    codes = torch.tensor([[4, 0], [1, 1]])
    assert table(codes).shape == (2, 2, 3)
    torch.testing.assert_close(table(codes)[0, 0], table.id[4])
    assert abs(table.id.std().item() - 0.1) < 0.05


def test_side_features_start_at_zero_and_then_count():
    features = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    table = EntityEmbedding(5, 3, features=features)
    torch.testing.assert_close(table(), table.id)
    with torch.no_grad():
        table.projection.fill_(1.0)
    assert not torch.allclose(table(), table.id)


def test_frozen_vectors_pass_through_the_adapter_and_stay_fixed():
    vectors = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    table = EntityEmbedding(5, 3, frozen_vectors=vectors, add_id=True)
    assert not table.id.any()  # the residual ID embedding starts at zero
    assert not table.frozen.requires_grad
    names = {name for name, _ in table.named_parameters()}
    assert names == {"id", "adapter.weight", "adapter.bias"}
    mlp = EntityEmbedding(5, 3, frozen_vectors=vectors, add_id=False, adapter="mlp")
    assert mlp.id is None and mlp().shape == (5, 3)


def test_fixed_inputs_are_centred_unit_scale_and_zero_rows_stay_zero():
    rng = np.random.default_rng(0)
    # every row near one shared direction, as a sentence encoder gives; row 2 has no text
    vectors = (np.ones(6) * 3 + rng.normal(size=(5, 6))).astype(np.float32)
    vectors[2] = 0
    table = EntityEmbedding(5, 3, frozen_vectors=vectors, features=vectors * 10)
    for fixed in (table.frozen.numpy(), table.features.numpy()):
        present = np.delete(fixed, 2, axis=0)
        np.testing.assert_allclose(present.mean(axis=0), 0, atol=1e-5)
        assert np.linalg.norm(present, axis=1).mean() == pytest.approx(1, rel=1e-5)
        assert not fixed[2].any()
    # the adapter's output no longer shares the direction of the raw vectors' mean
    outputs = table.adapter(table.frozen).detach().numpy()
    unit = outputs / np.linalg.norm(outputs, axis=1, keepdims=True)
    assert abs(np.delete(unit, 2, axis=0).mean(axis=0)).max() < 0.5


# ---------------------------------------------------------------------- guidance head
def test_guidance_selects_distinct_codes_with_a_target():
    targets = np.ones((6, 4), np.float32)
    targets[5] = 0  # no target
    head = GuidanceHead(GuidanceTargets(item_targets=targets), 3, seed=0, device=CPU)
    codes = torch.tensor([2, 5, 2, 0, 3, 0])
    picked = head.select("items", codes)
    assert sorted(codes[picked].tolist()) == [0, 2, 3]
    assert head.select("users", codes) is None


def test_generative_guidance_masks_a_share_of_at_most_the_cap():
    targets = np.random.default_rng(0).normal(size=(5000, 4)).astype(np.float32)
    head = GuidanceHead(GuidanceTargets(item_targets=targets, kind="generative",
                                        mask_ratio=0.1), 3, seed=0, device=CPU)
    assert len(head.select("items", torch.arange(50))) == 5
    contrastive = GuidanceHead(GuidanceTargets(item_targets=targets), 3, seed=0, device=CPU)
    assert len(contrastive.select("items", torch.arange(5000))) == MAX_ALIGNED_ROWS
    table = torch.zeros(4, 3)
    masked = head.masked_input(table + 1, torch.tensor([1]))
    assert masked[1].tolist() == head.mask_token.tolist() and masked[0].tolist() == [1, 1, 1]


@pytest.mark.parametrize("chunk", [3, 2048])
def test_nearest_neighbors_match_a_brute_force_search(chunk):
    rng = np.random.default_rng(0)
    targets = rng.normal(size=(40, 6)).astype(np.float32)
    targets[[4, 17]] = 0  # no target: never anybody's neighbour
    has_target = np.abs(targets).sum(axis=1) > 0
    found = nearest_neighbors(torch.from_numpy(targets), torch.from_numpy(has_target), 5,
                              chunk=chunk).numpy()
    unit = targets / np.maximum(np.linalg.norm(targets, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit.T
    similarity[:, ~has_target] = -np.inf
    np.fill_diagonal(similarity, -np.inf)
    expected = np.argsort(-similarity, axis=1, kind="stable")[:, :5]
    assert not np.isin(found, [4, 17]).any()
    # rows without a target have arbitrary neighbours (they are never selected)
    np.testing.assert_array_equal(np.sort(found[has_target], axis=1),
                                  np.sort(expected[has_target], axis=1))


def test_nearest_neighbors_need_two_rows_with_a_target():
    one = torch.zeros(5, 3)
    one[2] = 1.0
    assert nearest_neighbors(one, one.abs().sum(dim=1) > 0, 4) is None
    two = one.clone()
    two[3] = 1.0  # k is capped at the rows available
    assert nearest_neighbors(two, two.abs().sum(dim=1) > 0, 4).shape == (5, 1)


def test_distillation_pulls_toward_the_neighbours_last_embeddings():
    targets = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1]], np.float32)
    head = GuidanceHead(GuidanceTargets(item_targets=targets, kind="distillation",
                                        n_neighbors=1, weight=1.0), 2, seed=0, device=CPU)
    assert head.items_neighbors.tolist() == [[1], [0], [3], [2]]
    first = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    # items 0 and 2 come first: their neighbours 1 and 3 were never seen, nothing to learn
    assert head.loss("items", torch.tensor([0, 2]), first).item() == 0.0
    student = torch.tensor([[0.0, 1.0], [0.0, 1.0]], requires_grad=True)
    loss = head.loss("items", torch.tensor([1, 3]), student)
    # item 1's teacher is item 0's banked (1, 0): cosine 0; item 3's is (0, 1): cosine 1
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    assert student.grad[0].abs().sum() > 0 and first.grad is None  # teachers are detached
    assert head.items_bank[1].tolist() == [0.0, 1.0]


def test_guidance_head_leaves_the_global_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(2)
    torch.manual_seed(0)
    GuidanceHead(GuidanceTargets(item_targets=np.ones((4, 8))), 3, seed=1, device=CPU)
    assert torch.equal(torch.rand(2), expected)


# ---------------------------------------------------------------------- device and seeds
def test_seeds_are_reproducible_and_independent():
    first, second = Seeds.from_random_state(0), Seeds.from_random_state(0)
    assert first.torch == second.torch and first.guidance == second.guidance
    assert first.sampling.integers(1000) == second.sampling.integers(1000)
    assert len({first.torch, first.guidance}) == 2


def test_seeded_torch_restores_the_caller_state():
    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    with seeded_torch(7, CPU):
        inside = torch.rand(1)
    with seeded_torch(7, CPU):
        assert torch.equal(torch.rand(1), inside)
    assert torch.equal(torch.rand(1), expected)


def test_resolve_device():
    assert resolve_device("cpu") == CPU
    assert resolve_device(torch.device("cpu")) == CPU
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("tpu-please")
