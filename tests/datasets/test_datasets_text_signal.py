"""make_text_signal: shape, determinism, and that the item text really carries the signal."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from skllmers import InteractionData
from skllmers.datasets import make_text_signal
from skllmers.datasets._text_signal import TOPIC_VOCABULARY


# ---------------------------------------------------------------------- helpers
def leave_last_out(data):
    """Train rows and each user's last row (by time) as the test row."""
    order = data.time_order(random_state=0)
    users = data.user_codes[order]
    last = np.append(users[1:] != users[:-1], True)
    return order[~last], order[last]


def binary_matrix(data, rows):
    matrix = sp.csr_matrix(
        (np.ones(len(rows)), (data.user_codes[rows], data.item_codes[rows])),
        shape=(data.n_users, data.n_items),
    )
    matrix.data[:] = 1.0
    return matrix


def held_out_auc(scores, train, users, items):
    """Per test row: share of the user's unseen items that score below the held-out item."""
    scores = np.asarray(scores, dtype=float)[users]
    candidates = np.ones(scores.shape, bool)
    candidates[train[users].nonzero()] = False
    rows = np.arange(len(users))
    candidates[rows, items] = False
    target = scores[rows, items][:, None]
    wins = ((scores < target) & candidates).sum(1) + 0.5 * ((scores == target) & candidates).sum(1)
    return wins / candidates.sum(1)


def tfidf(descriptions):
    return normalize(TfidfVectorizer().fit_transform(np.asarray(descriptions, dtype=object)))


def scores_by_method(data, train_rows, descriptions=None):
    """Scores of every (user, item) by a text profile, item-kNN and popularity."""
    train = binary_matrix(data, train_rows)
    features = tfidf(data.items["description"] if descriptions is None else descriptions)
    text = (normalize(train @ features) @ features.T).toarray()
    columns = normalize(train, axis=0)
    similarity = (columns.T @ columns).toarray()
    np.fill_diagonal(similarity, 0.0)
    item_knn = np.asarray(train @ similarity)
    counts = np.asarray(train.sum(0)).ravel()
    popularity = np.broadcast_to(counts, text.shape)
    return train, counts, {"text": text, "item_knn": item_knn, "popularity": popularity}


# ---------------------------------------------------------------------- structure
@pytest.fixture(scope="module")
def default_data():
    return make_text_signal(random_state=0, return_topics=True)


def test_defaults_shape_and_columns(default_data):
    data, truth = default_data
    assert isinstance(data, InteractionData)
    assert data.n_users == 300 and data.n_items == 500
    assert 6000 < len(data) < 10000
    assert data.ratings is not None and data.timestamps is not None
    assert list(data.items.columns) == ["title", "description"]
    assert data.items.index.equals(pd.Index(data.item_ids))
    assert data.items["title"].is_unique
    assert data.items["description"].str.len().min() > 40
    assert pd.api.types.is_string_dtype(data.items["description"])
    assert sorted(data.item_ids) == list(range(500))
    assert sorted(data.user_ids) == list(range(300))
    assert truth.item_topics.shape == (500, 8) and truth.user_topics.shape == (300, 8)
    np.testing.assert_allclose(truth.item_topics.sum(1), 1.0)
    np.testing.assert_allclose(truth.user_topics.sum(1), 1.0)
    assert len(truth.topic_names) == 8 and len(truth.topic_words) == 8
    assert truth.item_popularity.shape == (500,)


def test_interactions_are_distinct_sparse_and_long_tailed(default_data):
    data, _ = default_data
    pairs = data.user_codes.astype(np.int64) * data.n_items + data.item_codes
    assert len(np.unique(pairs)) == len(data)  # a user picks an item at most once
    per_user = np.bincount(data.user_codes, minlength=data.n_users)
    assert per_user.min() >= 3
    assert per_user.max() > 3 * np.median(per_user)  # some heavy users
    per_item = np.bincount(data.item_codes, minlength=data.n_items)
    assert (per_item <= 3).mean() > 0.2  # many rare items ...
    top = np.sort(per_item)[::-1]
    assert top[:50].sum() > 0.4 * len(data)  # ... while 10% of the items take the bulk
    assert len(data) / (data.n_users * data.n_items) < 0.1


def test_timestamps_and_ratings(default_data):
    data, truth = default_data
    start = pd.Timestamp("2020-01-01").timestamp()
    assert data.timestamps.dtype == np.int64
    assert data.timestamps.min() >= start
    assert data.timestamps.max() < start + 365 * 86400
    assert set(np.unique(data.ratings)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    affinity = np.einsum("ij,ij->i", truth.user_topics[data.user_codes],
                         truth.item_topics[data.item_codes])
    assert np.corrcoef(affinity, data.ratings)[0, 1] > 0.3


def test_truth_is_in_code_order(default_data):
    """Row c of item_topics belongs to item code c: its description uses that topic's words."""
    data, truth = default_data
    vocab = {w: t for t, words in enumerate(truth.topic_words) for w in words}
    dominant = truth.item_topics.argmax(1)
    agree = []
    for code, text in enumerate(data.items["description"]):
        topics = [vocab[w] for w in text.replace(",", " ").replace(".", " ").split() if w in vocab]
        agree.append(np.bincount(topics, minlength=len(vocab)).argmax() == dominant[code])
    assert np.mean(agree) > 0.85
    # user_topics follow user codes: users' topics predict what they picked.
    affinity = truth.user_topics @ truth.item_topics.T
    picked = affinity[data.user_codes, data.item_codes].mean()
    shuffled = affinity[np.random.default_rng(0).permutation(data.user_codes),
                        data.item_codes].mean()
    assert picked > 1.5 * shuffled


def test_topic_vocabularies_are_distinct():
    words = [w for vocab in TOPIC_VOCABULARY.values() for w in vocab]
    assert len(words) == len(set(words))
    assert all(w.isalpha() and w.islower() for w in words)
    assert len(TOPIC_VOCABULARY) >= 16


def test_more_topics_than_built_in_vocabularies():
    data, truth = make_text_signal(n_users=50, n_items=120, n_topics=20, random_state=3,
                                   return_topics=True)
    assert truth.item_topics.shape == (120, 20)
    assert len(truth.topic_names) == len(set(truth.topic_names)) == 20
    all_words = [w for vocab in truth.topic_words for w in vocab]
    assert len(all_words) == len(set(all_words))  # generated words are new and distinct
    generated = truth.topic_words[-1]
    assert all(w.isalpha() and 4 <= len(w) <= 14 for w in generated)


def test_with_genres_names_main_topics():
    data, truth = make_text_signal(n_users=40, n_items=60, random_state=1, with_genres=True,
                                   return_topics=True)
    assert list(data.items.columns) == ["title", "description", "genres"]
    main = np.array(truth.topic_names)[truth.item_topics.argmax(1)]
    assert all(m in g.split(", ") for m, g in zip(main, data.items["genres"], strict=True))


# ---------------------------------------------------------------------- determinism
def test_same_seed_same_data():
    a = make_text_signal(n_users=60, n_items=80, random_state=7)
    b = make_text_signal(n_users=60, n_items=80, random_state=np.random.default_rng(7))
    assert a.to_pandas().equals(b.to_pandas())
    assert a.items.equals(b.items)
    c = make_text_signal(n_users=60, n_items=80, random_state=8)
    assert not a.items["description"].equals(c.items["description"])


def test_random_state_instance_is_accepted():
    a = make_text_signal(n_users=20, n_items=30, random_state=np.random.RandomState(0))
    b = make_text_signal(n_users=20, n_items=30, random_state=np.random.RandomState(0))
    assert a.to_pandas().equals(b.to_pandas())


@pytest.mark.parametrize("kwargs, message", [
    ({"n_users": 0}, "n_users"),
    ({"n_items": 2.5}, "n_items"),
    ({"text_noise": 1.5}, "text_noise"),
    ({"topic_strength": -1.0}, "topic_strength"),
    ({"item_concentration": 0.0}, "item_concentration"),
    ({"min_interactions": 600}, "min_interactions"),
    ({"interactions_per_user": float("nan")}, "interactions_per_user"),
    ({"random_state": "seed"}, "random_state"),
])
def test_invalid_parameters(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make_text_signal(**kwargs)


def test_scales(tmp_path):
    start = time.perf_counter()
    data = make_text_signal(n_users=20000, n_items=4000, n_topics=12, random_state=0)
    elapsed = time.perf_counter() - start
    assert data.n_users == 20000 and data.n_items == 4000
    assert 400_000 < len(data) < 700_000
    assert elapsed < 15.0


# ---------------------------------------------------------------------- the signal
def test_text_profile_predicts_held_out_items(default_data):
    data, _ = default_data
    train_rows, test_rows = leave_last_out(data)
    train, _, scores = scores_by_method(data, train_rows)
    users, items = data.user_codes[test_rows], data.item_codes[test_rows]
    text_auc = held_out_auc(scores["text"], train, users, items)
    random_auc = held_out_auc(np.random.default_rng(0).random(scores["text"].shape), train,
                              users, items)
    assert abs(random_auc.mean() - 0.5) < 0.05
    assert text_auc.mean() > 0.65
    assert text_auc.mean() > random_auc.mean() + 0.15
    # Top-10 hits: far above the ~2% a random ranking gets.
    ranked = np.where(train[users].toarray() > 0, -np.inf, scores["text"][users])
    hits = (ranked > ranked[np.arange(len(users)), items][:, None]).sum(1) < 10
    assert hits.mean() > 0.06


def test_signal_is_in_which_item_has_which_text(default_data):
    """Controls: shuffled descriptions, or text_noise=1, leave the text profile at chance."""
    data, _ = default_data
    train_rows, test_rows = leave_last_out(data)
    users, items = data.user_codes[test_rows], data.item_codes[test_rows]
    shuffled = np.random.default_rng(0).permutation(data.items["description"].to_numpy())
    train, _, scores = scores_by_method(data, train_rows, descriptions=shuffled)
    assert abs(held_out_auc(scores["text"], train, users, items).mean() - 0.5) < 0.06

    noisy = make_text_signal(random_state=0, text_noise=1.0)
    # Same seed: same users, items and interactions; only the words are random.
    assert noisy.to_pandas().equals(data.to_pandas())
    train, _, scores = scores_by_method(noisy, train_rows)
    assert abs(held_out_auc(scores["text"], train, users, items).mean() - 0.5) < 0.06


def test_text_finds_rare_items_that_interactions_miss():
    data = make_text_signal(n_users=1000, n_items=1000, random_state=0)
    train_rows, test_rows = leave_last_out(data)
    train, counts, scores = scores_by_method(data, train_rows)
    users, items = data.user_codes[test_rows], data.item_codes[test_rows]
    rare = counts[items] <= 3
    assert rare.sum() >= 20
    auc = {name: held_out_auc(s, train, users, items) for name, s in scores.items()}
    # Overall, interactions (popularity, co-occurrence) rank the held-out items well ...
    assert auc["item_knn"].mean() > 0.85 and auc["popularity"].mean() > 0.8
    # ... but for rare items they are at or below chance, while the text finds them.
    assert auc["item_knn"][rare].mean() < 0.6
    assert auc["popularity"][rare].mean() < 0.35
    assert auc["text"][rare].mean() > 0.7
    assert auc["text"][rare].mean() > auc["item_knn"][rare].mean() + 0.2


def test_text_identifies_the_topic_of_rare_items():
    """Nearest topic centroid: text beats interaction vectors on items with <= 3 users."""
    data, truth = make_text_signal(n_users=1000, n_items=1000, random_state=1,
                                   return_topics=True)
    train = binary_matrix(data, np.arange(len(data)))
    counts = np.asarray(train.sum(0)).ravel()
    topic = truth.item_topics.argmax(1)
    rare, known = np.flatnonzero(counts <= 3), np.flatnonzero(counts >= 10)

    def accuracy(features):
        centroids = sp.vstack([
            sp.csr_matrix(features[known[topic[known] == t]].mean(0))
            for t in range(truth.item_topics.shape[1])
        ])
        similarity = features[rare] @ normalize(centroids).T
        return (np.asarray(similarity.todense()).argmax(1) == topic[rare]).mean()

    text = accuracy(tfidf(data.items["description"]))
    interactions = accuracy(normalize(train.T.tocsr()))
    assert len(rare) > 100
    assert text > 0.8
    assert text > interactions + 0.1
