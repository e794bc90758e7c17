"""evaluate / per_user_scores / make_rank_scorer with candidates: rank a subset only."""

import math

import numpy as np
import pandas as pd
import pytest
from _metrics_doubles import FixedScores

from skllmers import InteractionData
from skllmers.metrics import evaluate, make_rank_scorer, paired_test, per_user_scores

# Items a..f. Training rows: u1 a; u2 b; u3 a, b. Items c..f have no training row (cold).
# Test rows: u1 -> c, b (b is warm); u2 -> d; u3 -> a (seen: skipped).
TRAIN = [("u1", "a"), ("u2", "b"), ("u3", "a"), ("u3", "b")]
TEST = [("u1", "c"), ("u1", "b"), ("u2", "d"), ("u3", "a")]
SCORES = {  # columns a..f
    "u1": [0, 9, 1, 5, 4, 3],  # cold order d, e, f, c: c at rank 4; overall b first
    "u2": [0, 0, 1, 2, 9, 3],  # cold order e, f, d, c: d at rank 3
    "u3": [1, 1, 1, 1, 1, 1],
}


def d(rank):
    return 1 / math.log2(rank + 1)


@pytest.fixture
def split():
    rows = pd.DataFrame(TRAIN + TEST, columns=["user_id", "item_id"])
    data = InteractionData.from_pandas(rows, items=pd.DataFrame(index=list("abcdef")))
    train = data.take(np.arange(len(TRAIN)))
    test = data.take(np.arange(len(TRAIN), len(rows)))
    scores = pd.DataFrame(SCORES, index=list("abcdef")).T
    model = FixedScores(scores.loc[data.user_ids, data.item_ids].to_numpy()).fit(train)
    return model, test, train


def test_cold_ranks_among_items_without_training_rows(split):
    model, test, _ = split
    table = evaluate(model, None, test, metrics=["ndcg", "recall"], k=[3, 4], fit=False,
                     candidates="cold")
    row = table.iloc[0]
    assert row["n_candidates"] == 4 and row["n_users"] == 2  # u3's only row is seen
    assert row["ndcg@4"] == pytest.approx((d(4) + d(3)) / 2)  # b is not a candidate
    assert row["recall@3"] == pytest.approx(0.5)
    assert row["coverage@3"] == 0.75  # top 3s d, e, f and e, f, d: 3 of 4 candidates
    whole = evaluate(model, None, test, metrics=["ndcg"], k=4, fit=False).iloc[0]
    assert "n_candidates" not in whole.index
    assert whole["ndcg@4"] == pytest.approx((d(1) / (d(1) + d(2)) + d(3)) / 2)  # b found


def test_candidates_as_item_ids(split):
    model, test, _ = split
    table = evaluate(model, None, test, metrics=["hit_rate"], k=1, fit=False,
                     candidates=["c", "d"])
    assert table["n_candidates"].iloc[0] == 2
    assert table["hit_rate@1"].iloc[0] == pytest.approx(0.5)  # u1 gets d; u2 gets d
    with pytest.raises(KeyError, match="candidates.*'zz'"):
        evaluate(model, None, test, fit=False, candidates=["c", "zz"])
    with pytest.raises(ValueError, match="candidates='warm'"):
        evaluate(model, None, test, fit=False, candidates="warm")


def test_cold_needs_cold_items(split):
    model, test, _ = split
    rows = pd.DataFrame(TRAIN, columns=["user_id", "item_id"])
    data = InteractionData.from_pandas(rows)
    warm = FixedScores(np.ones((3, 2))).fit(data)
    with pytest.raises(ValueError, match="ColdItemSplit"):
        evaluate(warm, None, data, fit=False, candidates="cold")


def test_per_user_scores_and_scorer_take_candidates(split):
    model, test, _ = split
    values = per_user_scores(model, test, "ndcg", k=4, candidates="cold")
    assert values.to_dict() == pytest.approx({"u1": d(4), "u2": d(3)})
    scorer = make_rank_scorer("ndcg", k=4, candidates="cold")
    assert repr(scorer) == "make_rank_scorer(metric='ndcg', k=4, candidates='cold')"
    assert scorer(model, test) == pytest.approx(values.mean())
    assert repr(make_rank_scorer()) == "make_rank_scorer(metric='ndcg', k=10)"


def test_paired_test_of_two_models_on_cold_items(split):
    model, test, train = split
    held_out_first = model.scores_.copy()
    users, items = train.user_ids.get_indexer(["u1", "u2"]), train.item_ids.get_indexer(["c", "d"])
    held_out_first[users, items] = 20.0  # each user's held-out cold item first
    better = FixedScores(held_out_first).fit(train)
    result = paired_test(per_user_scores(better, test, candidates="cold"),
                         per_user_scores(model, test, candidates="cold"))
    assert result.n == 2 and result.mean_a == pytest.approx(1.0)
    assert result.mean_difference == pytest.approx(1 - (d(4) + d(3)) / 2)
