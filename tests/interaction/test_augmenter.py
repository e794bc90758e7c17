"""LLMInteractionAugmenter: the strategies, order-free scoring, the fit-only contract, sklearn API."""

import pickle

import numpy as np
import pandas as pd
import pytest
from _kie_doubles import Raising, recording_llm
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import check_estimator

from conftest import history_titles, preference_llm, scoring_oracle
from skllmers import InteractionData
from skllmers._text import format_history
from skllmers.interaction import (
    DEFAULT_JUDGE_TEMPLATE,
    Denoise,
    EmbeddingNeighbors,
    LLMInteractionAugmenter,
    LLMSelect,
    _retrievers,
)
from skllmers.knowledge import LLMSummaryFeaturizer
from skllmers.llm import LlamaCppLLM
from skllmers.llm.testing import HashingEncoder, ScriptedLLM
from skllmers.model_selection import LeaveLastOut
from skllmers.recommenders import LightFMRecommender, PopularityRecommender

_RANK = {"Jaws": -0.1, "Up": -0.5, "Ran": -0.9, "Fargo": -1.3, "Brazil": -1.7, "Heat": -2.1,
         "Aliens": -2.3,
         "Alien": -2.5}


def _by_title(history, title):
    """Fixed taste (history-free): Jaws best, then Up, Ran, ..., Alien worst."""
    return _RANK.get(title, -3.0)


def _per_byte(title):
    """The likelihood score of ``_by_title``: log-probability per byte."""
    return _RANK[title] / len(title.encode())


def _history_taste(history, title):
    """Likes titles sharing letters with the history; a title's own prior otherwise."""
    prior = -(sum(i * ord(c) for i, c in enumerate(title, 1)) % 1009) / 1009  # no ties here
    if not history:
        return prior - 1.0
    shared = len(set(title.lower()) & set("".join(history).lower()))
    return -2.0 / (1 + shared) + 0.5 * prior


def _taste_scorer(prompt, options):
    """``_history_taste`` as a picklable ScriptedLLM scorer (plain answers only)."""
    return [_history_taste(history_titles(prompt), option) for option in options]


@pytest.fixture
def distinct(catalogue):
    """``catalogue`` with no repeated title (item "c" is "Aliens")."""
    items = catalogue.items.assign(title=lambda t: t["title"].where(t.index != "c", "Aliens"))
    return InteractionData.from_pandas(catalogue.to_pandas(), items, time_col="timestamp",
                                       rating_col="rating")


def _select(**params):
    return LLMSelect(**{"scoring": "likelihood", **params})


# ---------------------------------------------------------------------- LLMSelect
def test_llm_select_adds_flagged_weighted_unseen_best_scored_items(catalogue):
    log = []
    augmenter = LLMInteractionAugmenter(
        preference_llm(_by_title, log=log),
        strategy=_select(n_candidates=4, n_positive=2, augmented_weight=0.25))
    out = augmenter.fit_resample(catalogue)
    added = out.augmented_mask()
    assert augmenter.n_added_ == added.sum() == 10  # 5 users x 2
    assert len(out) == len(catalogue) + 10 and not added[:len(catalogue)].any()
    np.testing.assert_array_equal(out.row_weights()[added], 0.25)
    np.testing.assert_array_equal(out.row_weights()[~added], 1.0)
    seen = set(zip(catalogue.user_codes.tolist(), catalogue.item_codes.tolist(), strict=True))
    new = list(zip(out.user_codes[added].tolist(), out.item_codes[added].tolist(), strict=True))
    assert not seen & set(new) and len(set(new)) == 10
    edits = augmenter.edited_rows_
    assert list(edits.columns) == ["user_id", "item_id", "role", "score", "retriever_rank"]
    assert edits["role"].eq("positive").all()
    candidates = augmenter.retriever_.candidates(np.arange(5), 4, catalogue.to_csr())
    titles = catalogue.items["title"].to_numpy()
    for user in range(5):
        mine = edits[edits["user_id"] == catalogue.user_ids[user]]
        offered = candidates[user]
        best = sorted(offered, key=lambda code: -_per_byte(titles[code]))[:2]
        assert catalogue.encode_items(mine["item_id"]).tolist() == best
        # the score is the per-byte log-probability, the rank the retriever position
        np.testing.assert_allclose(mine["score"], [_per_byte(titles[c]) for c in best])
        assert mine["retriever_rank"].tolist() == [int(np.flatnonzero(offered == c)[0]) + 1
                                                   for c in best]
    # one prompt per user, the candidates never listed in it
    prompts = {prompt for prompt, _ in log}
    assert len(prompts) == 5
    assert not any("Jaws" in p or "Candidate" in p for p in prompts)


def _shuffle_candidates(monkeypatch, seed):
    original = _retrievers.PopularityRetriever.candidates

    def shuffled(self, user_codes, n, exclude):
        out = original(self, user_codes, n, exclude)
        rng = np.random.default_rng(seed)
        for row in out:
            valid = row >= 0
            row[valid] = rng.permutation(row[valid])
        return out

    monkeypatch.setattr(_retrievers.PopularityRetriever, "candidates", shuffled)


@pytest.mark.parametrize("scoring", ["pmi", "likelihood", "yes"])
def test_picks_do_not_depend_on_candidate_order_or_seed(distinct, monkeypatch, scoring):
    def picks(random_state):
        augmenter = LLMInteractionAugmenter(
            preference_llm(_history_taste), random_state=random_state,
            strategy=LLMSelect(n_candidates=5, n_positive=2, scoring=scoring,
                               sample_negatives=True))
        out = augmenter.fit_resample(distinct)
        edits = augmenter.edited_rows_
        return (edits[["user_id", "item_id", "role", "score"]].to_dict("list"),
                out.artifacts["negatives"].tolist())

    reference = picks(0)
    assert picks(1) == reference
    for seed in range(3):
        _shuffle_candidates(monkeypatch, seed)
        assert picks(0) == reference


def test_a_pick_in_every_position_when_the_scores_say_so(catalogue):
    """The old numbered choice picked by position; a score picks by the item."""
    augmenter = LLMInteractionAugmenter(preference_llm(_by_title),
                                        strategy=_select(n_candidates=5))
    augmenter.fit(catalogue)
    ranks = augmenter.edited_rows_["retriever_rank"]
    assert ranks.nunique() > 1


def test_repeated_titles_are_scored_once_and_the_seed_breaks_the_tie(catalogue):
    """Items "a" and "c" are both titled Alien: they tie, and only the seed decides."""
    user3 = catalogue.take(np.flatnonzero(catalogue.user_ids[catalogue.user_codes] == 3))
    taste = {"Alien": -0.1}
    log = []
    llm = preference_llm(lambda history, title: taste.get(title, -5.0), log=log)
    picked = set()
    for seed in range(12):
        augmenter = LLMInteractionAugmenter(llm, strategy=_select(n_candidates=5),
                                            random_state=seed)
        out = augmenter.fit_resample(user3)
        picked.add(out.item_ids[out.item_codes[-1]])
    assert picked == {"a", "c"}
    assert all(options.count("Alien") == 1 for _, options in log)


def test_scoring_modes_send_what_they_document(catalogue):
    user1 = catalogue.take(np.flatnonzero(catalogue.user_ids[catalogue.user_codes] == 1))
    for scoring, n_prompts in (("likelihood", 1), ("pmi", 2), ("yes", 5)):
        log = []
        augmenter = LLMInteractionAugmenter(preference_llm(_history_taste, log=log),
                                            strategy=LLMSelect(n_candidates=5,
                                                               scoring=scoring))
        augmenter.fit(user1)
        prompts = list(dict.fromkeys(prompt for prompt, _ in log))
        assert len(prompts) == n_prompts, scoring
        if scoring == "pmi":  # the same question with an empty history
            assert [len(history_titles(p)) for p in prompts] == [3, 0]
        if scoring == "yes":
            offered = catalogue.items["title"].to_numpy()[
                augmenter.retriever_.candidates([0], 5, user1.to_csr())[0]]
            assert sorted(prompts) == sorted(
                DEFAULT_JUDGE_TEMPLATE.format(history=format_history(["Alien", "Heat", "Brazil"]),
                                              item=t)
                for t in dict.fromkeys(offered))


def test_pmi_removes_what_the_model_likes_for_anyone(catalogue):
    """A model that finds "Up" likely for everyone: PMI picks by what the history adds."""
    def biased(history, title):
        if title == "Up":
            return -0.2  # likely with or without a history
        return _history_taste(history, title) - (5.0 if not history else 1.0)

    def picks(scoring):
        augmenter = LLMInteractionAugmenter(preference_llm(biased),
                                            strategy=LLMSelect(n_candidates=8,
                                                               scoring=scoring))
        augmenter.fit(catalogue)
        return augmenter.edited_rows_["item_id"].tolist()

    assert set(picks("likelihood")) == {"g"}  # "Up" for everyone
    assert "g" not in picks("pmi")


def test_negatives_are_the_worst_scored_remaining_candidates(distinct):
    existing = np.array([[0, 0, 7]])
    data = distinct.with_artifacts(negatives=existing)
    augmenter = LLMInteractionAugmenter(
        preference_llm(_by_title), strategy=_select(n_candidates=5, n_positive=2,
                                                    sample_negatives=True))
    out = augmenter.fit_resample(data)
    triples = out.artifacts["negatives"]
    assert augmenter.n_negatives_ == 10 and triples.shape == (11, 3)
    np.testing.assert_array_equal(triples[0], existing[0])
    titles = distinct.items["title"].to_numpy()
    candidates = augmenter.retriever_.candidates(np.arange(5), 5, distinct.to_csr())
    for user, row in enumerate(candidates):
        ranked = sorted(row, key=lambda code: -_per_byte(titles[code]))
        mine = triples[1:][triples[1:, 0] == user]
        # best with worst, second best with second worst
        assert mine[:, 1].tolist() == ranked[:2] and mine[:, 2].tolist() == ranked[::-1][:2]
    assert (augmenter.edited_rows_["role"] == "negative").sum() == 10
    assert len(out) == len(data) + 10  # negatives are not rows


def test_sample_negatives_needs_two_candidates(catalogue):
    augmenter = LLMInteractionAugmenter(
        preference_llm(_by_title), strategy=LLMSelect(n_candidates=1, sample_negatives=True))
    with pytest.raises(ValueError, match="n_candidates >= 2"):
        augmenter.fit(catalogue)


@pytest.mark.parametrize("retriever", ["popularity", "item_knn", "recommender"])
def test_retrievers_propose_unseen_items(catalogue, retriever):
    if retriever == "recommender":
        retriever = PopularityRecommender()
    augmenter = LLMInteractionAugmenter(preference_llm(_by_title),
                                        strategy=_select(retriever=retriever, n_candidates=3))
    augmenter.fit(catalogue)
    candidates = augmenter.retriever_.candidates(np.arange(5), 3, catalogue.to_csr())
    for user, row in enumerate(candidates):
        own = catalogue.item_codes[catalogue.user_codes == user]
        assert not np.isin(row[row >= 0], own).any()
        assert (row >= 0).sum() == 3


def test_popularity_and_item_knn_rank_as_documented(catalogue):
    popular = LLMInteractionAugmenter(preference_llm(_by_title),
                                      strategy=_select(n_candidates=2)).fit(catalogue).retriever_
    # counts: a=4, b=2, d=2, e=2, f=1 -> user 3 (saw b, e, f) gets a, then d (lower code)
    codes = popular.candidates(catalogue.encode_users([3]), 2, catalogue.to_csr())[0]
    assert catalogue.item_ids[codes].tolist() == ["a", "d"]
    knn = LLMInteractionAugmenter(preference_llm(_by_title),
                                  strategy=_select(retriever="item_knn")).fit(catalogue).retriever_
    # user 5 saw only "a"; "d" co-occurs with "a" for users 1 and 4 (b, e: once)
    codes = knn.candidates(catalogue.encode_users([5]), 1, catalogue.to_csr())[0]
    assert catalogue.item_ids[codes].tolist() == ["d"]


def test_failed_llm_calls_are_counted_not_guessed(catalogue):
    llm = preference_llm(_by_title, on_error="skip", max_retries=0,
                         fail_if=lambda prompt: "Fargo" in prompt)  # users 2 and 3 saw Fargo
    augmenter = LLMInteractionAugmenter(llm, strategy=_select(n_candidates=2))
    out = augmenter.fit_resample(catalogue)
    assert augmenter.n_failed_ == 2 and augmenter.n_added_ == 3
    assert len(out) == len(catalogue) + 3


def test_user_fraction_samples_reproducibly(catalogue):
    def run(seed):
        augmenter = LLMInteractionAugmenter(preference_llm(_by_title), user_fraction=0.4,
                                            strategy=_select(n_candidates=2),
                                            random_state=seed)
        augmenter.fit(catalogue)
        return augmenter.edited_rows_["user_id"].tolist(), augmenter.n_users_sampled_

    users, n_sampled = run(0)
    assert n_sampled == 2 and len(users) == 2
    assert run(0)[0] == users
    assert len({tuple(run(seed)[0]) for seed in range(6)}) > 1


# ---------------------------------------------------------------------- embedding
def test_embedding_adds_the_nearest_unseen_items(catalogue):
    encoder = HashingEncoder(64)
    augmenter = LLMInteractionAugmenter(encoder=encoder, max_history=5,
                                        strategy=EmbeddingNeighbors(n_positive=1))
    out = augmenter.fit_resample(catalogue)
    vectors = encoder.embed(catalogue.item_text().tolist())
    for user in range(catalogue.n_users):
        own = catalogue.item_codes[catalogue.user_codes == user]
        profile = vectors[own].mean(axis=0)
        scores = vectors @ (profile / np.linalg.norm(profile))
        scores[own] = -np.inf
        added = out.item_codes[out.augmented_mask() & (out.user_codes == user)]
        assert len(added) == 1 and scores[added[0]] == scores.max()  # ties: the seed decides
    assert augmenter.encoder_ is encoder and augmenter.llm_stats_ == {}
    assert augmenter.edited_rows_["score"].between(-1, 1).all()


def test_embedding_skips_users_whose_items_have_no_text(small_data):
    augmenter = LLMInteractionAugmenter(encoder=HashingEncoder(32),
                                        strategy=EmbeddingNeighbors())
    out = augmenter.fit_resample(small_data)
    # user 3 saw only "d", which has no text; users 1 and 2 get the nearest unseen item
    assert sorted(out.user_ids[out.user_codes[out.augmented_mask()]]) == [1, 2]
    assert "added 2 rows for 2 of 3 sampled users" in augmenter._report()


def test_the_defaults_fit(catalogue):
    """No LLM needed: the default strategy embeds with the offline SentenceEncoder."""
    augmenter = LLMInteractionAugmenter()
    out = augmenter.fit_resample(catalogue)
    assert isinstance(augmenter.strategy_, EmbeddingNeighbors)
    assert augmenter.n_added_ == catalogue.n_users == out.augmented_mask().sum()
    assert type(augmenter.encoder_).__name__ == "SentenceEncoder"


# ---------------------------------------------------------------------- denoise
@pytest.fixture
def noisy():
    """Users who like space, plus one cooking item each: the noise to find."""
    space = ["space galaxy rocket", "space nebula orbit", "space comet planet",
             "space lunar crater", "space star cosmos"]
    items = pd.DataFrame({"text": space + ["kitchen whisk dough"]}, index=list("abcdef"))
    rows = pd.DataFrame({"user_id": np.repeat([1, 2, 3], 4),
                         "item_id": list("abcf" + "bcdf" + "cdef"),
                         "t": np.tile([1, 2, 3, 4], 3)})
    return InteractionData.from_pandas(rows, items, time_col="t")


def test_denoise_drops_the_least_plausible_rows(noisy, capsys):
    augmenter = LLMInteractionAugmenter(encoder=HashingEncoder(256), verbose=True,
                                        strategy=Denoise(fraction=0.25))
    out = augmenter.fit_resample(noisy)
    assert augmenter.n_scored_ == 12 and augmenter.n_dropped_ == 3 and len(out) == 9
    assert "f" not in out.item_ids[out.item_codes].tolist()  # the cooking rows went
    assert augmenter.edited_rows_["role"].eq("dropped").all()
    assert augmenter.edited_rows_["item_id"].tolist() == ["f", "f", "f"]
    assert "dropped 3" in capsys.readouterr().out


def test_denoise_downweights_instead_of_dropping(noisy):
    augmenter = LLMInteractionAugmenter(
        encoder=HashingEncoder(256),
        strategy=Denoise(fraction=0.25, action="downweight", weight=0.1))
    out = augmenter.fit_resample(noisy)
    assert len(out) == len(noisy) and augmenter.n_downweighted_ == 3
    is_noise = noisy.item_ids[noisy.item_codes] == "f"
    np.testing.assert_allclose(out.row_weights()[is_noise], 0.1)
    np.testing.assert_allclose(out.row_weights()[~is_noise], 1.0)


def test_denoise_keeps_each_users_best_row():
    items = pd.DataFrame({"text": ["space", "cooking", "ocean"]}, index=list("abc"))
    rows = pd.DataFrame({"user_id": [1, 1, 2, 2, 2], "item_id": list("ab" + "abc")})
    data = InteractionData.from_pandas(rows, items)
    augmenter = LLMInteractionAugmenter(encoder=HashingEncoder(64),
                                        strategy=Denoise(fraction=1.0))
    out = augmenter.fit_resample(data)
    assert sorted(set(out.user_ids[out.user_codes])) == [1, 2]
    assert augmenter.n_dropped_ == 3


def test_denoise_with_the_llm_scorer(noisy):
    log = []

    def fits(history, title):
        return np.log(0.1) if "whisk" in title else np.log(0.9)

    augmenter = LLMInteractionAugmenter(preference_llm(fits, log=log), title_col="text",
                                        strategy=Denoise(scorer="llm", fraction=0.25))
    out = augmenter.fit_resample(noisy)
    prompts = [prompt for prompt, _ in log]
    assert len(prompts) == 12 and augmenter.n_dropped_ == 3
    assert "f" not in out.item_ids[out.item_codes].tolist()
    judged = [p for p in prompts if 'item "kitchen whisk dough"' in p]
    assert len(judged) == 3
    assert all("kitchen whisk dough" not in history_titles(p) for p in judged)  # not its own
    np.testing.assert_allclose(augmenter.edited_rows_["score"], np.log(0.1 / 0.9))


# ---------------------------------------------------------------------- contract
def test_transform_returns_its_input_unchanged(catalogue):
    from sklearn.exceptions import NotFittedError

    augmenter = LLMInteractionAugmenter(preference_llm(_by_title),
                                        strategy=_select(n_candidates=2))
    with pytest.raises(NotFittedError):
        augmenter.transform(catalogue)
    augmented = augmenter.fit_transform(catalogue)
    assert len(augmented) > len(catalogue)
    assert augmenter.fit_resample(catalogue).item_codes.tolist() == augmented.item_codes.tolist()
    assert augmenter.transform(catalogue) is catalogue
    assert clone(augmenter).fit(catalogue).transform(catalogue) is catalogue


class _Spy(TransformerMixin, BaseEstimator):
    """Records the length of what each method receives."""

    def fit(self, X, y=None):
        return self

    def fit_transform(self, X, y=None):
        self.fit_lengths_ = [len(X), int(X.augmented_mask().sum())]
        return X

    def transform(self, X):
        self.transform_lengths_ = [len(X), int(X.augmented_mask().sum())]
        return X


def test_pipeline_augments_training_data_only(signal):
    data, truth, train, test = signal
    pipe = make_pipeline(
        LLMInteractionAugmenter(scoring_oracle(data, truth), user_fraction=0.1,
                                strategy=LLMSelect(n_candidates=5), random_state=0),
        _Spy(), PopularityRecommender(),
    ).fit(train)
    assert pipe[1].fit_lengths_ == [len(train) + 30, 30]
    pipe.score(test)
    assert pipe[1].transform_lengths_ == [len(test), 0]


@pytest.mark.parametrize("params, message", [
    ({"strategy": LLMSelect(n_positive=0)}, "n_positive"),
    ({"strategy": LLMSelect(n_candidates=1.5)}, "n_candidates"),
    ({"strategy": LLMSelect(scoring="choose")}, "scoring"),
    ({"strategy": LLMSelect(retriever="random")}, "retriever"),
    ({"strategy": LLMSelect(augmented_weight=0)}, "augmented_weight"),
    ({"strategy": LLMSelect(augmented_rating="median")}, "augmented_rating"),
    ({"strategy": LLMSelect(select_template="{history} {rating}")}, "rating"),
    ({"strategy": LLMSelect(scoring="yes", judge_template="{history}!")}, None),
    ({"strategy": Denoise(fraction=2.0)}, "fraction"),
    ({"strategy": Denoise(action="remove")}, "action"),
    ({"strategy": EmbeddingNeighbors(augmented_weight=-1.0)}, "augmented_weight"),
    ({"user_fraction": 0.0}, "user_fraction"),
    ({"max_history": 0}, "max_history"),
])
def test_bad_parameters_raise_in_fit(catalogue, params, message):
    augmenter = LLMInteractionAugmenter(preference_llm(_by_title), HashingEncoder(8),
                                        **params)
    if message is None:  # a template without {item} is allowed: every prompt is the same
        augmenter.fit(catalogue)
        return
    with pytest.raises(ValueError, match=message):
        augmenter.fit(catalogue)


def test_a_string_strategy_names_the_new_objects(catalogue):
    with pytest.raises(TypeError, match=r"'llm_select' is now LLMSelect\(\.\.\.\)"):
        LLMInteractionAugmenter(strategy="llm_select").fit(catalogue)


def test_llm_strategies_need_an_llm_that_scores(catalogue):
    with pytest.raises(ValueError, match="LLMSelect scores with an LLM, but llm=None"):
        LLMInteractionAugmenter(strategy=LLMSelect()).fit(catalogue)
    with pytest.raises(ValueError, match="Denoise"):
        LLMInteractionAugmenter(strategy=Denoise(scorer="llm")).fit(catalogue)
    with pytest.raises(InvalidParameterError, match="score_options"):
        LLMInteractionAugmenter(object(), strategy=LLMSelect()).fit(catalogue)


def _expected_failed_checks(estimator):
    return {
        "check_transformer_general": "fit_transform adds rows to the training data while "
                                     "transform returns its input unchanged, as for "
                                     "TargetEncoder.",
        "check_fit_idempotent": "see check_transformer_general",
    }


@pytest.mark.parametrize("augmenter", [
    LLMInteractionAugmenter(ScriptedLLM(), HashingEncoder(8), strategy=LLMSelect()),
    LLMInteractionAugmenter(),
])
def test_sklearn_api_checks(augmenter):
    """scikit-learn's data-independent checks; the data checks need numeric 2-D arrays.

    ``check_estimator`` skips the augmenter (its input is an InteractionData, declared
    by ``two_d_array=False``); the checks below take no data. The contract that
    differs from scikit-learn's assumption is tested above
    (``test_transform_returns_its_input_unchanged``) and declared expected-to-fail.
    """
    with pytest.warns(estimator_checks.SkipTestWarning, match="Can't test"):
        results = check_estimator(augmenter, expected_failed_checks=_expected_failed_checks(
            augmenter), on_fail=None)
    assert [(r["check_name"], r["status"]) for r in results] == [
        ("check_estimator_cloneable", "passed")]
    for check in ("check_parameters_default_constructible", "check_get_params_invariance",
                  "check_set_params", "check_no_attributes_set_in_init",
                  "check_estimator_cloneable", "check_estimator_repr",
                  "check_do_not_raise_errors_in_init_or_set_params",
                  "check_estimator_tags_renamed", "check_valid_tag_types"):
        getattr(estimator_checks, check)(type(augmenter).__name__, augmenter)
    for strategy in (LLMSelect(), EmbeddingNeighbors(), Denoise()):
        estimator_checks.check_parameters_default_constructible(type(strategy).__name__,
                                                                strategy)
        estimator_checks.check_get_params_invariance(type(strategy).__name__, strategy)


def test_pickle_clone_and_nested_params(catalogue):
    augmenter = LLMInteractionAugmenter(ScriptedLLM(scorer=_taste_scorer, name="taste"),
                                        strategy=LLMSelect(n_candidates=3),
                                        random_state=0).fit(catalogue)
    restored = pickle.loads(pickle.dumps(augmenter))
    pd.testing.assert_frame_equal(restored.edited_rows_, augmenter.edited_rows_)
    assert restored.transform(catalogue) is catalogue
    params = augmenter.get_params()
    assert params["llm__name"] == "taste" and params["strategy__n_candidates"] == 3
    again = clone(augmenter).set_params(strategy__n_candidates=4)
    assert augmenter.strategy.n_candidates == 3 and again.strategy.n_candidates == 4
    assert clone(augmenter).fit_resample(catalogue).item_codes.tolist() == \
        augmenter.fit_resample(catalogue).item_codes.tolist()


# ---------------------------------------------------------------------- with models
def _lightfm(**params):
    return LightFMRecommender(**{"n_factors": 32, "epochs": 20, "random_state": 0, **params})


@pytest.mark.parametrize("scoring", ["pmi", "yes"])
def test_beats_the_plain_model_on_text_signal_data(signal, scoring):
    data, truth, train, test = signal
    base = _lightfm().fit(train).score(test)
    pipe = make_pipeline(
        LLMInteractionAugmenter(scoring_oracle(data, truth), random_state=0,
                                strategy=LLMSelect(n_candidates=20, n_positive=2,
                                                   scoring=scoring)),
        _lightfm(),
    ).fit(train)
    enhanced = pipe.score(test)
    assert pipe[0].n_added_ == 2 * train.n_users
    assert enhanced > base + 0.01, (base, enhanced)


def test_grid_search_sends_no_call_twice(signal, tmp_path):
    data, truth, train, _ = signal
    small = train.take(np.flatnonzero(train.user_codes < 60))
    log = []
    llm = scoring_oracle(data, truth, name="grid", log=log, cache=tmp_path / "cache")
    pipe = make_pipeline(
        LLMSummaryFeaturizer(llm, HashingEncoder(32), target="users", random_state=0),
        LLMInteractionAugmenter(llm, strategy=LLMSelect(n_candidates=5), random_state=0),
        _lightfm(n_factors=8, epochs=2),
    )
    grid = {"llmsummaryfeaturizer__n_components": [None, 4],
            "llminteractionaugmenter__strategy__n_positive": [1, 2],
            "llminteractionaugmenter__strategy__augmented_weight": [0.2, 1.0]}
    search = GridSearchCV(pipe, grid, cv=LeaveLastOut(n_splits=2, random_state=0)).fit(small)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    calls = [call for _, call in log]
    assert len(calls) == len(set(calls)) > 0
    n_generate = sum(op == "generate" for op, _ in log)
    n_users = len(np.unique(small.user_codes))
    assert n_generate <= 3 * n_users  # two folds and the refit, each user once


def test_fitted_pipeline_serves_without_the_llm(signal):
    data, truth, train, test = signal
    pipe = make_pipeline(
        LLMInteractionAugmenter(scoring_oracle(data, truth), user_fraction=0.2,
                                strategy=LLMSelect(n_candidates=5), random_state=0),
        _lightfm(n_factors=8, epochs=2),
    ).fit(train)
    before = pipe.predict(test)
    pipe.set_params(llminteractionaugmenter__llm=Raising())
    np.testing.assert_array_equal(pipe.predict(test), before)
    assert len(pipe[-1].recommend(data.user_ids[:2], k=3)) == 6
    assert pipe[0].transform(test) is test
    assert np.isfinite(pipe.score(test))


def test_prompts_use_real_rows_only(catalogue):
    def histories(data):
        log = []
        LLMInteractionAugmenter(recording_llm(log), strategy=_select(n_candidates=2)).fit(data)
        return {tuple(history_titles(p)) for op, p in log if op == "score_options"}

    once = LLMInteractionAugmenter(preference_llm(_by_title),
                                   strategy=_select(n_candidates=2)).fit_resample(catalogue)
    assert once.augmented_mask().sum() == 5
    assert histories(once) == histories(catalogue)
    assert ("Alien", "Heat", "Brazil") in histories(catalogue)  # user 1, oldest first


def test_llama_cpp_smoke(catalogue, tiny_gguf):
    """The real llama.cpp path: every candidate gets a finite log-probability."""
    llm = LlamaCppLLM(tiny_gguf, n_ctx=512, cache=None, verbose=0)
    augmenter = LLMInteractionAugmenter(llm, max_history=3,
                                        strategy=LLMSelect(n_candidates=4,
                                                           sample_negatives=True))
    out = augmenter.fit_resample(catalogue)
    assert augmenter.n_added_ == 5 and augmenter.n_negatives_ == 5
    assert augmenter.n_scored_ == 20 and np.isfinite(augmenter.edited_rows_["score"]).all()
    assert augmenter.llm_stats_["calls"] == 5 + 1  # one prompt per user, one empty history
    triples = out.artifacts["negatives"]
    assert ((triples >= 0) & (triples < catalogue.n_items)).all()
