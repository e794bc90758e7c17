"""evaluate, make_rank_scorer, per_user_scores and paired_test."""

import math
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from _metrics_doubles import CountingStep, FixedScores
from scipy import stats
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skllmers import InteractionData
from skllmers.metrics import (
    PairedTestResult,
    evaluate,
    make_rank_scorer,
    ndcg_at_k,
    paired_test,
    per_user_scores,
)

# Training rows: u1 had a, b; u2 had c; u3 had a.
# Test rows: u1 -> c, d; u2 -> c (already seen: not relevant), e; u3 -> a (seen: skipped).
TRAIN = [("u1", "a"), ("u1", "b"), ("u2", "c"), ("u3", "a")]
TEST = [("u1", "c"), ("u1", "d"), ("u2", "c"), ("u2", "e"), ("u3", "a")]
SCORES = {  # columns a..e
    "u1": [5, 4, 1, 3, 2],  # unseen ranked d, e, c: hits at ranks 1 and 3
    "u2": [1, 2, 9, 3, 4],  # unseen ranked e, d, b, a: hit at rank 1
    "u3": [1, 1, 1, 1, 1],
}


def d(rank):
    return 1 / math.log2(rank + 1)


@pytest.fixture
def split():
    rows = pd.DataFrame(TRAIN + TEST, columns=["user_id", "item_id"])
    data = InteractionData.from_pandas(rows)
    train, test = data.take(np.arange(len(TRAIN))), data.take(np.arange(len(TRAIN), len(rows)))
    scores = pd.DataFrame(SCORES, index=list("abcde")).T
    scores = scores.loc[data.user_ids, data.item_ids].to_numpy()
    return train, test, scores


def test_evaluate_by_hand(split):
    train, test, scores = split
    result = evaluate(FixedScores(scores), train, test, k=[3, 1])
    names = ["ndcg", "recall", "hit_rate", "map", "mrr"]
    assert list(result.columns) == [f"{m}@{k}" for m in names for k in (1, 3)] + [
        "coverage@1", "coverage@3", "n_users"]
    assert len(result) == 1
    row = result.iloc[0]
    assert row[[f"{m}@1" for m in names]].tolist() == pytest.approx(
        [1.0, (1 / 2 + 1) / 2, 1.0, 1.0, 1.0])
    assert row["coverage@1"] == pytest.approx(2 / 5)  # d and e
    u1_ndcg3 = (d(1) + d(3)) / (d(1) + d(2))
    assert row[[f"{m}@3" for m in names]].tolist() == pytest.approx(
        [(u1_ndcg3 + 1) / 2, 1.0, 1.0, ((1 + 2 / 3) / 2 + 1) / 2, 1.0])
    assert row["coverage@3"] == pytest.approx(4 / 5)  # b, c, d, e
    assert result["n_users"].tolist() == [2]  # u3 had nothing new to find


def test_evaluate_fits_in_place_or_not(split):
    train, test, scores = split
    model = FixedScores(scores)
    evaluate(model, train, test, metrics=["ndcg"])
    assert hasattr(model, "scores_")
    again = evaluate(model, None, test, metrics=["ndcg"], fit=False)
    assert list(again.columns) == ["ndcg@10", "coverage@10", "n_users"]
    assert again["ndcg@10"].iloc[0] == pytest.approx(
        evaluate(model, train, test)["ndcg@10"].iloc[0])
    with pytest.raises(ValueError, match="fit=True needs training data"):
        evaluate(FixedScores(scores), None, test)


def test_evaluate_agrees_with_recommend_on_random_data():
    """Route independent of _held_out_ranking: recommend() lists + a per-user loop."""
    rng = np.random.default_rng(0)
    n_users, n_items = 30, 20
    rows = pd.DataFrame({"user_id": rng.integers(0, n_users, 400),
                         "item_id": rng.integers(0, n_items, 400)})
    data = InteractionData.from_pandas(rows)
    is_test = rng.random(len(data)) < 0.2
    train, test = data.take(~is_test), data.take(is_test)
    model = FixedScores(rng.random((data.n_users, data.n_items))).fit(train)
    k = 5
    result = evaluate(model, train, test, metrics=["ndcg", "recall"], k=k, fit=False)

    top = model.recommend(data.user_ids, k=k)
    seen = set(zip(train.to_pandas()["user_id"], train.to_pandas()["item_id"], strict=True))
    held = test.to_pandas()
    ndcgs, recalls = [], []
    for user, group in held.groupby("user_id"):
        relevant = {i for i in group["item_id"] if (user, i) not in seen}
        if not relevant:
            continue
        ranked = top.loc[top["user_id"] == user].sort_values("rank")["item_id"].tolist()
        hits = [item in relevant for item in ranked]
        ideal = sum(d(r) for r in range(1, min(k, len(relevant)) + 1))
        ndcgs.append(sum(d(r + 1) for r, h in enumerate(hits) if h) / ideal)
        recalls.append(sum(hits) / len(relevant))
    assert result["n_users"].iloc[0] == len(ndcgs)
    assert result["ndcg@5"].iloc[0] == pytest.approx(np.mean(ndcgs))
    assert result["recall@5"].iloc[0] == pytest.approx(np.mean(recalls))


def test_evaluate_with_nobody_to_evaluate_warns_and_gives_nan(split):
    train, _, scores = split
    with pytest.warns(UserWarning, match="no held-out user could be evaluated"):
        result = evaluate(FixedScores(scores), train, train)  # every test item is seen
    assert result["n_users"].iloc[0] == 0
    assert math.isnan(result["ndcg@10"].iloc[0])


# ---------------------------------------------------------------------- scorer
def test_scorer_single_and_multi(split):
    train, test, scores = split
    model = FixedScores(scores).fit(train)
    expected = evaluate(model, None, test, k=[1, 3, 10], fit=False).iloc[0]
    assert make_rank_scorer()(model, test) == pytest.approx(expected["ndcg@10"])
    assert make_rank_scorer("recall", k=1)(model, test) == pytest.approx(expected["recall@1"])
    many = make_rank_scorer(["ndcg", "map"], k=[1, 3])(model, test)
    assert set(many) == {"ndcg@1", "ndcg@3", "map@1", "map@3"}
    assert many == pytest.approx(expected[list(many)].to_dict())
    assert set(make_rank_scorer(["mrr"], k=3)(model, test)) == {"mrr@3"}
    assert set(make_rank_scorer("mrr", k=[3])(model, test)) == {"mrr@3"}


def test_scorer_pickles_for_parallel_search(split):
    train, test, scores = split
    model = FixedScores(scores).fit(train)
    scorer = make_rank_scorer(["ndcg", "mrr"], k=[1, 3])
    assert pickle.loads(pickle.dumps(scorer))(model, test) == scorer(model, test)


def test_scorer_with_callable_metric(split):
    train, test, scores = split
    model = FixedScores(scores).fit(train)

    def first_hit(relevant, recommended, k):
        return float(np.mean([recommended[i][0] in set(r) for i, r in enumerate(relevant)]))

    assert make_rank_scorer(first_hit, k=1)(model, test) == pytest.approx(1.0)
    assert "first_hit" in repr(make_rank_scorer(first_hit, k=1))


def test_scorer_repr_and_errors(split):
    train, test, scores = split
    assert repr(make_rank_scorer("map", k=5)) == "make_rank_scorer(metric='map', k=5)"
    assert repr(make_rank_scorer(["map", "mrr"], k=[5, 10])) == (
        "make_rank_scorer(metric=['map', 'mrr'], k=[5, 10])")
    assert repr(make_rank_scorer(["mrr"], k=3)) == "make_rank_scorer(metric=['mrr'], k=3)"
    with pytest.raises(ValueError, match="Unknown ranking metric 'precision'"):
        make_rank_scorer("precision")
    with pytest.raises(ValueError, match="k must be a positive int"):
        make_rank_scorer(k=0)
    with pytest.raises(ValueError, match="metric is empty"):
        make_rank_scorer([])
    model = FixedScores(scores).fit(train)
    with pytest.raises(ValueError, match="no sample_weight"):
        make_rank_scorer()(model, test, sample_weight=np.ones(len(test)))
    with pytest.raises(TypeError, match="skllmers recommender .* got LinearRegression"):
        make_rank_scorer()(LinearRegression(), test)


def test_scorer_goes_through_pipeline_steps(split):
    train, test, scores = split
    pipe = Pipeline([("step", CountingStep()), ("model", FixedScores(scores))]).fit(train)
    assert pipe.named_steps["step"].calls_ == [len(train)]
    value = make_rank_scorer()(pipe, test)
    assert pipe.named_steps["step"].calls_ == [len(train), len(test)]
    assert value == pytest.approx(make_rank_scorer()(pipe.named_steps["model"], test))
    assert value == pytest.approx(pipe.score(test))  # Pipeline.score -> recommender.score


def test_scorer_in_grid_search_with_refit(split):
    train, test, scores = split
    data = InteractionData.from_pandas(pd.DataFrame(TRAIN + TEST,
                                                    columns=["user_id", "item_id"]))
    folds = [(np.arange(len(TRAIN)), np.arange(len(TRAIN), len(data)))]
    worse = scores.copy()
    worse[:, :] = worse[:, ::-1]
    search = GridSearchCV(FixedScores(), {"scores": [worse, scores]}, cv=folds,
                          scoring=make_rank_scorer(["ndcg", "recall"], k=[1, 3]),
                          refit="ndcg@3")
    search.fit(data)
    assert search.best_index_ == 1
    assert search.cv_results_["mean_test_ndcg@3"][1] == pytest.approx(
        evaluate(FixedScores(scores), train, test, k=3)["ndcg@3"].iloc[0])


# ---------------------------------------------------------------------- per user
def test_per_user_scores(split):
    train, test, scores = split
    model = FixedScores(scores).fit(train)
    series = per_user_scores(model, test, "ndcg", k=3)
    assert series.name == "ndcg@3" and series.index.name == "user_id"
    assert series.to_dict() == pytest.approx({"u1": (d(1) + d(3)) / (d(1) + d(2)),
                                              "u2": 1.0})
    assert series.mean() == pytest.approx(evaluate(model, None, test, k=3, fit=False)
                                          ["ndcg@3"].iloc[0])
    assert per_user_scores(model, test, ndcg_at_k, k=3).tolist() == series.tolist()
    with pytest.raises(ValueError, match="one metric"):
        per_user_scores(model, test, ["ndcg", "map"])
    with pytest.raises(ValueError, match="one positive int k"):
        per_user_scores(model, test, k=[1, 3])


# ---------------------------------------------------------------------- paired test
def test_paired_test_identical_scores():
    scores = np.random.default_rng(0).random(50)
    for method in ("wilcoxon", "bootstrap"):
        result = paired_test(scores, scores, method=method, n_resamples=200, random_state=0)
        assert isinstance(result, PairedTestResult)
        assert (result.n, result.mean_difference, result.pvalue) == (50, 0.0, 1.0)
        assert (result.ci_low, result.ci_high) == (0.0, 0.0)


def test_paired_test_constant_shift():
    b = np.random.default_rng(1).random(100)
    a = b + 0.1
    wil = paired_test(a, b, random_state=0, n_resamples=500)
    assert wil.pvalue == pytest.approx(stats.wilcoxon(a - b).pvalue)
    assert wil.pvalue < 1e-10
    assert (wil.ci_low, wil.ci_high) == pytest.approx((0.1, 0.1))
    assert wil.mean_difference == pytest.approx(0.1)
    assert wil.relative_difference == pytest.approx(0.1 / b.mean())
    boot = paired_test(a, b, method="bootstrap", n_resamples=500, random_state=0)
    assert boot.pvalue == pytest.approx(1 / 501)  # the smallest a 500-resample test gives


def test_paired_test_matches_scipy_and_normal_interval():
    rng = np.random.default_rng(2)
    b = rng.random(400)
    a = b + 0.02 + 0.2 * rng.standard_normal(400)
    result = paired_test(a, b, n_resamples=4000, random_state=0)
    diff = a - b
    assert result.pvalue == pytest.approx(stats.wilcoxon(diff).pvalue)
    half = 1.96 * diff.std(ddof=1) / math.sqrt(len(diff))
    assert result.ci_low == pytest.approx(diff.mean() - half, abs=0.15 * half)
    assert result.ci_high == pytest.approx(diff.mean() + half, abs=0.15 * half)
    again = paired_test(a, b, n_resamples=4000, random_state=0)
    assert (again.ci_low, again.ci_high) == (result.ci_low, result.ci_high)


def test_paired_test_under_the_null_is_calibrated():
    """With no real difference, about 5% of tests reject at 0.05 and CIs cover 0."""
    rng = np.random.default_rng(3)
    rejected = {"wilcoxon": 0, "bootstrap": 0}
    covered = 0
    n_trials = 200
    for trial in range(n_trials):
        a, b = rng.random(80), rng.random(80)
        for method in rejected:
            result = paired_test(a, b, method=method, n_resamples=400, random_state=trial)
            rejected[method] += result.pvalue < 0.05
        covered += result.ci_low <= 0 <= result.ci_high
    for method, count in rejected.items():
        assert count / n_trials < 0.10, method  # nominal 0.05; a broken test gives ~1
    assert covered / n_trials > 0.88


def test_paired_test_aligns_series_by_user():
    rng = np.random.default_rng(4)
    users = [f"u{i}" for i in range(60)]
    a = pd.Series(rng.random(60), index=users)
    b = pd.Series(rng.random(60), index=users)
    shuffled = b.sample(frac=1, random_state=0)
    kwargs = {"n_resamples": 300, "random_state": 0}
    assert paired_test(a, shuffled, **kwargs) == paired_test(a, b, **kwargs)
    with pytest.warns(UserWarning, match="3 users have a score from only one model"):
        partial = paired_test(a, b.iloc[3:], **kwargs)
    assert partial.n == 57
    assert partial == paired_test(a.iloc[3:], b.iloc[3:], **kwargs)


def test_paired_test_drops_nan_pairs_and_validates():
    a, b = np.array([0.1, np.nan, 0.3, 0.5]), np.array([0.2, 0.1, np.nan, 0.4])
    assert paired_test(a, b, n_resamples=50, random_state=0).n == 2
    with pytest.raises(ValueError, match="scores_a has 3 values and scores_b 2"):
        paired_test([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 2 paired scores"):
        paired_test([1.0], [2.0])
    with pytest.raises(ValueError, match="method='t'"):
        paired_test([1, 2], [2, 1], method="t")
    with pytest.raises(ValueError, match="n_resamples"):
        paired_test([1, 2], [2, 1], n_resamples=0)
    with pytest.raises(ValueError, match="confidence_level"):
        paired_test([1, 2], [2, 1], confidence_level=95)
    dup = pd.Series([1.0, 2.0], index=["u", "u"])
    with pytest.raises(ValueError, match="unique index"):
        paired_test(dup, dup)


def test_paired_test_on_two_models(split):
    train, test, scores = split
    better = per_user_scores(FixedScores(scores).fit(train), test)
    flipped = per_user_scores(FixedScores(scores[:, ::-1].copy()).fit(train), test)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same test set: no user left out
        result = paired_test(better, flipped, n_resamples=100, random_state=0)
    assert result.n == 2
    assert result.mean_a == pytest.approx(better.mean())
    assert result.mean_b == pytest.approx(flipped.mean())
