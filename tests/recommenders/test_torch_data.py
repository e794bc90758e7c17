"""Small synthetic data sets and helpers for the torch recommender tests.

The other ``test_torch_*`` modules import them (``from test_torch_data import ...``);
the tests below check that the data have the structure those tests rely on.
"""

import numpy as np
import pandas as pd
import pytest
import torch

from skllmers import InteractionData
from skllmers.metrics import ndcg_at_k
from skllmers.recommenders import (
    BaseRecommender,
    BPRRecommender,
    FactorModelMixin,
    LightGCNRecommender,
    SASRecRecommender,
)


def cuda(test):
    """A CUDA test: selected by ``-m cuda``, skipped where torch sees no GPU."""
    skip = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA GPU")
    return pytest.mark.cuda(skip(test))


N_CLUSTERS = 3
ITEMS_PER_CLUSTER = 20

# Tiny, seeded models: each fits in well under a second on one thread. They train on
# the CPU, where a seed fixes the result to the last bit (the tests compare models
# exactly); CUDA's atomic scatter-adds differ in the last bits from run to run, so the
# CUDA tests (marked ``cuda``) ask for device="cuda" and compare to a tolerance.
FAST_PARAMS = {
    "bpr": dict(n_factors=16, epochs=15, batch_size=256, learning_rate=0.03, device="cpu",
                random_state=0),
    "lightgcn": dict(n_factors=16, n_layers=2, epochs=15, batch_size=256, learning_rate=0.03,
                     device="cpu", random_state=0),
    "sasrec": dict(n_factors=16, max_len=8, n_layers=1, epochs=15, batch_size=32,
                   learning_rate=0.003, dropout=0.1, device="cpu", random_state=0),
}
CLASSES = {"bpr": BPRRecommender, "lightgcn": LightGCNRecommender, "sasrec": SASRecRecommender}


def make_model(name, **params):
    """A fast instance of model ``name`` ("bpr", "lightgcn", "sasrec"), with overrides."""
    return CLASSES[name](**{**FAST_PARAMS[name], **params})


_FITTED = {}


def fitted(name, data, **params):
    """``make_model(name, **params)`` fitted on ``data``, memoised for the session.

    Only for models a test reads and never changes (fits are deterministic, so a
    cached one equals a fresh one). The cache holds ``data`` too, so its ``id`` is not
    reused while the entry lives.
    """
    key = (name, id(data), tuple(sorted(params.items())))
    if key not in _FITTED:
        _FITTED[key] = (data, make_model(name, **params).fit(data))
    return _FITTED[key][1]


def clustered_data(n_users=120, per_user=8, seed=0):
    """Users of cluster ``u % 3`` pick items of their cluster (popularity decays inside a
    cluster) plus one random item; random timestamps. Item code order is shuffled."""
    rng = np.random.default_rng(seed)
    n_items = N_CLUSTERS * ITEMS_PER_CLUSTER
    within = 1.0 / np.arange(1, ITEMS_PER_CLUSTER + 1) ** 0.5
    within /= within.sum()
    rows = []
    for user in range(n_users):
        first = (user % N_CLUSTERS) * ITEMS_PER_CLUSTER
        liked = first + rng.choice(ITEMS_PER_CLUSTER, per_user, replace=False, p=within)
        rows += [(user, item) for item in np.append(liked, rng.integers(n_items))]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"]).drop_duplicates()
    frame = frame.sample(frac=1.0, random_state=seed)
    frame["t"] = rng.permutation(len(frame))
    return InteractionData.from_pandas(frame, time_col="t")


def item_clusters(data):
    return np.asarray(data.item_ids, dtype=int) // ITEMS_PER_CLUSTER


def cyclic_data(n_users=90, n_items=30, length=12, noise=0.1, seed=0):
    """Each user walks the cycle of items (next = previous + 1 mod ``n_items``) from a
    random start; with probability ``noise`` a step goes to a random item instead."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        item = rng.integers(n_items)
        for t in range(length):
            rows.append((user, item, t))
            item = rng.integers(n_items) if rng.random() < noise else (item + 1) % n_items
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "t"])
    return InteractionData.from_pandas(frame, time_col="t")


def leave_last_out(data):
    """``(train, test)`` views: each user's latest row is its test row."""
    order = data.time_order(random_state=0)
    users = data.user_codes[order]
    is_last = np.append(users[1:] != users[:-1], True)
    return data.take(np.sort(order[~is_last])), data.take(np.sort(order[is_last]))


def rare_item_data(seed=0):
    """``(train, test, cluster_vectors)``. Users like 5 of their cluster's 6 head items;
    each of the 10 tail items of a cluster has one training row, by a user of any
    cluster, so the interactions hardly tell a tail item's cluster; every user's test
    row is an unseen tail item of their cluster. ``cluster_vectors`` (n_items, 16) carry
    each item's cluster plus noise: the side information that does."""
    rng = np.random.default_rng(seed)
    n_users, head, tail = 120, 6, 10
    per_cluster = head + tail
    train = [(u, (u % N_CLUSTERS) * per_cluster + i)
             for u in range(n_users) for i in rng.choice(head, 5, replace=False)]
    for cluster in range(N_CLUSTERS):
        for item in range(cluster * per_cluster + head, (cluster + 1) * per_cluster):
            train.append((rng.integers(n_users), item))  # any cluster's user
    seen = set(train)
    test = []
    for u in range(n_users):
        first_tail = (u % N_CLUSTERS) * per_cluster + head
        unseen = [i for i in range(first_tail, first_tail + tail) if (u, i) not in seen]
        test.append((u, rng.choice(unseen)))
    frame = pd.DataFrame(train + test, columns=["user_id", "item_id"])
    data = InteractionData.from_pandas(frame)
    clusters = np.asarray(data.item_ids) // per_cluster
    directions = rng.normal(size=(N_CLUSTERS, 16))
    vectors = directions[clusters] + rng.normal(0, 0.3, (len(clusters), 16))
    rows = np.arange(len(frame))
    return (data.take(rows[:len(train)]), data.take(rows[len(train):]),
            vectors.astype(np.float32))


class Popularity(FactorModelMixin, BaseRecommender):
    """Ranks by training popularity: the baseline every model must beat."""

    def _fit(self, X):
        self.user_factors_ = np.ones((X.n_users, 1), np.float32)
        self.item_factors_ = self.item_popularity_[:, None].astype(np.float32)


def linear_cka(a, b):
    """Linear centred kernel alignment of two representations of the same rows."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    cross = np.linalg.norm(a.T @ b) ** 2
    return cross / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))


def ndcg_of_users(model, test):
    """NDCG@10 of each test row's user (one test row per user)."""
    ranking = model._held_out_ranking(test, k=10)
    return np.array([ndcg_at_k([rel], rec[None], k=10)
                     for rel, rec in zip(ranking.relevant, ranking.recommended, strict=True)])


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run faster on one thread on a small, shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_clustered_data_is_clustered():
    data = clustered_data()
    clusters = item_clusters(data)
    same = clusters[data.item_codes] == np.asarray(data.user_ids)[data.user_codes] % N_CLUSTERS
    assert 0.8 < same.mean() < 1.0


def test_cyclic_data_mostly_steps_by_one():
    data = cyclic_data()
    indptr, items = data.user_sequences(random_state=0)
    item_ids = np.asarray(data.item_ids)[items]
    within_user = np.ones(len(items) - 1, dtype=bool)
    within_user[indptr[1:-1] - 1] = False
    steps = (np.diff(item_ids) % 30)[within_user]
    assert 0.8 < np.mean(steps == 1) < 1.0
    assert np.all(np.diff(indptr) == 12)


def test_rare_item_data_tests_tail_items_once_seen():
    train, test, vectors = rare_item_data()
    counts = np.bincount(train.item_codes, minlength=train.n_items)
    assert np.all(counts[test.item_codes] == 1)
    assert vectors.shape == (train.n_items, 16)


def test_popularity_baseline_ranks_by_count():
    train, _ = leave_last_out(clustered_data())
    model = Popularity().fit(train)
    best = model.recommend(train.user_ids[:1], k=1, exclude_seen=False)["item_id"].iloc[0]
    assert best == train.item_ids[np.argmax(np.bincount(train.item_codes))]
