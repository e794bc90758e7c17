"""recommend(items=, filter_items=): rank only given candidates, or never given items."""

import numpy as np
import pandas as pd
import pytest

from skllmers import InteractionData
from skllmers.recommenders import BaseRecommender, PopularityRecommender


class FixedScores(BaseRecommender):
    """Scores of every (user code, item code) from a matrix; counts scoring calls."""

    def __init__(self, scores=None):
        self.scores = scores

    def _fit(self, X):
        self.scores_ = np.asarray(self.scores, dtype=np.float32)
        self.n_calls_ = 0

    def _score_users(self, user_codes):
        self.n_calls_ += 1
        return self.scores_[user_codes].copy()


@pytest.fixture
def fitted():
    # u1 saw a; u2 saw b. Items a..f; e and f have no row (cold, from the items table).
    data = InteractionData.from_pandas(
        pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["a", "b"]}),
        items=pd.DataFrame(index=list("abcdef")))
    scores = np.array([[9, 8, 7, 6, 5, 4],     # u1: a (seen) b c d e f
                       [1, 9, 2, 3, 4, 5]])    # u2: b (seen) f e d c a
    return FixedScores(scores).fit(data)


def test_items_ranks_only_the_candidates_best_first(fitted):
    top = fitted.recommend(["u1", "u2"], k=2, items=["f", "c", "e"])
    assert top["item_id"].tolist() == ["c", "e", "f", "e"]
    assert top["rank"].tolist() == [1, 2, 1, 2]
    np.testing.assert_allclose(top["score"], [7, 5, 5, 4])


def test_items_fewer_than_k_and_repeats(fitted):
    top = fitted.recommend(["u1"], k=5, items=["d", "c", "d"])
    assert top["item_id"].tolist() == ["c", "d"]
    assert fitted.recommend(["u1"], k=3, items=[]).empty


def test_items_still_exclude_seen_unless_asked(fitted):
    assert fitted.recommend(["u1"], k=3, items=["a", "e"])["item_id"].tolist() == ["e"]
    assert fitted.recommend(["u1"], k=3, items=["a", "e"], exclude_seen=False)[
        "item_id"].tolist() == ["a", "e"]


def test_filter_items_are_never_recommended(fitted):
    top = fitted.recommend(["u1", "u2"], k=3, filter_items=["b", "f"])
    assert top["item_id"].tolist() == ["c", "d", "e", "e", "d", "c"]
    assert "b" in fitted.recommend(["u1"], k=3)["item_id"].tolist()


def test_a_single_id_is_one_candidate(fitted):
    assert fitted.recommend(["u2"], k=3, items="c")["item_id"].tolist() == ["c"]


def test_unknown_item_ids_raise_and_name_them(fitted):
    with pytest.raises(KeyError, match=r"items are not in the training id maps.*'zz'"):
        fitted.recommend(["u1"], k=2, items=["c", "zz"])
    with pytest.raises(KeyError, match=r"filter_items.*'yy'"):
        fitted.recommend(["u1"], k=2, filter_items=["yy"])


def test_items_and_filter_items_are_exclusive(fitted):
    with pytest.raises(ValueError, match="either items .* or filter_items"):
        fitted.recommend(["u1"], k=2, items=["c"], filter_items=["d"])


def test_unknown_users_get_the_popular_candidates():
    data = InteractionData.from_pandas(pd.DataFrame(
        {"user_id": [1, 2, 3, 3, 4, 4], "item_id": list("aabbac")}))
    model = PopularityRecommender().fit(data)
    top = model.recommend([1, 99], k=2, items=["b", "c"], unknown="popular")
    assert top.loc[top["user_id"] == 99, "item_id"].tolist() == ["b", "c"]
    top = model.recommend([99], k=2, filter_items=["a"], unknown="popular")
    assert top["item_id"].tolist() == ["b", "c"]


def test_serving_scores_once_per_chunk_and_calls_no_encoder(fitted, monkeypatch):
    import skllmers.llm as llm

    def refuse(*args, **kwargs):
        raise AssertionError("serving called an encoder")

    monkeypatch.setattr(llm.SentenceEncoder, "embed", refuse)
    fitted.recommend(["u1", "u2"], k=2, items=["e", "f"])
    assert fitted.n_calls_ == 1
