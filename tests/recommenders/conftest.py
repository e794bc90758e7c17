"""Small structured data sets for the recommender tests (fast on 2 cores)."""

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from skllmers import InteractionData
from skllmers.recommenders import (
    ALSRecommender,
    EASERecommender,
    LightFMRecommender,
    PopularityRecommender,
)

N_CLUSTERS = 4
ITEMS_PER_CLUSTER = 20


def make_block_data(n_users=240, per_user=8, noise=1, seed=0):
    """Users of cluster ``u % 4`` pick items of their cluster (popularity decays inside
    a cluster) plus ``noise`` random items; random timestamps. Item ``"i{k}"`` belongs
    to cluster ``k // 20``."""
    rng = np.random.default_rng(seed)
    n_items = N_CLUSTERS * ITEMS_PER_CLUSTER
    within = 1.0 / np.arange(1, ITEMS_PER_CLUSTER + 1) ** 0.7
    within /= within.sum()
    rows = []
    for user in range(n_users):
        first = (user % N_CLUSTERS) * ITEMS_PER_CLUSTER
        liked = first + rng.choice(ITEMS_PER_CLUSTER, per_user, replace=False, p=within)
        extra = rng.choice(n_items, noise, replace=False)
        rows += [(f"u{user}", f"i{item}") for item in np.concatenate([liked, extra])]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"]).drop_duplicates()
    frame["t"] = rng.permutation(len(frame))
    return InteractionData.from_pandas(frame, time_col="t")


def item_clusters(data):
    """Cluster of every item code of ``make_block_data`` data."""
    return np.array([int(item[1:]) for item in data.item_ids]) // ITEMS_PER_CLUSTER


def leave_last_out(data):
    """Row positions ``(train, test)``: each user's latest row is the test row."""
    order = data.time_order(random_state=0)
    users = data.user_codes[order]
    is_last = np.append(users[1:] != users[:-1], True)
    return np.sort(order[~is_last]), np.sort(order[is_last])


# Seeded, few factors and iterations: each fits in well under a second here.
FAST_MODELS = {
    "popularity": lambda: PopularityRecommender(),
    "ease": lambda: EASERecommender(l2=10.0),
    "als": lambda: ALSRecommender(n_factors=8, iterations=5, random_state=0, num_threads=1),
    "lightfm": lambda: LightFMRecommender(n_factors=8, epochs=10, random_state=0),
}


@pytest.fixture(params=sorted(FAST_MODELS))
def fast_model(request):
    """A fresh, fast instance of every library recommender."""
    return FAST_MODELS[request.param]()


@pytest.fixture(params=["als", "ease", "lightfm"])
def personalised_model(request):
    """A fresh, fast instance of every library recommender but the popularity baseline."""
    return FAST_MODELS[request.param]()


@pytest.fixture(scope="session")
def block_data():
    return make_block_data()


@pytest.fixture(scope="session")
def block_split(block_data):
    train, test = leave_last_out(block_data)
    return block_data.take(train), block_data.take(test)


@pytest.fixture(scope="session")
def block_clusters(block_data):
    return item_clusters(block_data)


@pytest.fixture(scope="session")
def rare_item_split(rare_item_data):
    data, train, test = rare_item_data
    return data.take(train), data.take(test)


@pytest.fixture(scope="session")
def rare_item_data():
    """``(data, train_rows, test_rows)``. Users like 5 of their cluster's 8 head items;
    each of the 12 tail items of a cluster has a single training row; every user's test
    row is an unseen tail item of their cluster. ``item_features`` carry the cluster
    (one-hot plus noise)."""
    rng = np.random.default_rng(0)
    n_users, head, tail = 200, 8, 12
    per_cluster = head + tail
    train = [(u, (u % N_CLUSTERS) * per_cluster + i)
             for u in range(n_users) for i in rng.choice(head, 5, replace=False)]
    for item in (c * per_cluster + head + j for c in range(N_CLUSTERS) for j in range(tail)):
        owner = rng.choice(np.arange(item // per_cluster, n_users, N_CLUSTERS))
        train.append((owner, item))
    seen = set(train)
    test = []
    for u in range(n_users):
        first_tail = (u % N_CLUSTERS) * per_cluster + head
        unseen = [i for i in range(first_tail, first_tail + tail) if (u, i) not in seen]
        test.append((u, rng.choice(unseen)))
    frame = pd.DataFrame(train + test, columns=["user_id", "item_id"])
    data = InteractionData.from_pandas(frame)
    clusters = data.item_ids.to_numpy() // per_cluster
    features = np.eye(N_CLUSTERS, dtype=np.float32)[clusters]
    features += rng.normal(0, 0.1, features.shape).astype(np.float32)
    data = data.with_artifacts(item_features=features)
    return data, np.arange(len(train)), np.arange(len(train), len(frame))


@pytest.fixture(autouse=True)
def _single_threaded_blas():
    """Tiny matrices are slower with threaded BLAS on a small, busy machine."""
    with threadpool_limits(1, "blas"):
        yield
