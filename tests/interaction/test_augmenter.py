"""LLMInteractionAugmenter: the three strategies, the fit_transform contract, cost, sklearn API."""

import pickle

import numpy as np
import pandas as pd
import pytest
from _kie_doubles import Raising, recording_llm, topic_oracle
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import check_estimator

from skllmers import InteractionData
from skllmers.interaction import LLMInteractionAugmenter
from skllmers.knowledge import LLMSummaryFeaturizer
from skllmers.llm import LlamaCppLLM
from skllmers.llm.testing import HashingEncoder, ScriptedLLM
from skllmers.model_selection import LeaveLastOut
from skllmers.recommenders import LightFMRecommender, PopularityRecommender


def _second(prompt, options):
    return options[min(1, len(options) - 1)]


def _pick(position):
    def chooser(prompt, options):
        return options[min(position, len(options) - 1)]
    return chooser


def _candidates_in(prompt):
    block = prompt.split("Candidate items:\n", 1)[1].split("\n\n", 1)[0]
    return block.splitlines()


@pytest.fixture
def catalogue():
    """Eight items (two share a title), four users with timestamps."""
    items = pd.DataFrame(
        {"title": ["Alien", "Heat", "Alien", "Brazil", "Fargo", "Ran", "Up", "Jaws"],
         "plot": ["space horror", "crime", "space remake", "satire", "crime", "war",
                  "balloon", "shark"]},
        index=pd.Index(list("abcdefgh"), name="item_id"),
    )
    rows = pd.DataFrame({
        "user_id": [1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5],
        "item_id": ["a", "b", "d", "a", "e", "b", "e", "f", "a", "d", "a"],
        "t": [1, 2, 3, 1, 2, 1, 2, 3, 1, 2, 1],
    })
    return InteractionData.from_pandas(rows, items, time_col="t")


# ---------------------------------------------------------------------- llm_select
def test_llm_select_adds_flagged_weighted_unseen_candidates(catalogue):
    log = []
    augmenter = LLMInteractionAugmenter(recording_llm(log), n_candidates=3, n_positive=2,
                                        augmented_weight=0.25)
    out = augmenter.fit_transform(catalogue)
    added = out.augmented_mask()
    assert augmenter.n_added_ == added.sum() == 10  # 5 users x 2 rounds
    assert len(out) == len(catalogue) + 10 and not added[:len(catalogue)].any()
    np.testing.assert_array_equal(out.row_weights()[added], 0.25)
    np.testing.assert_array_equal(out.row_weights()[~added], 1.0)
    seen = set(zip(catalogue.user_codes.tolist(), catalogue.item_codes.tolist(), strict=True))
    new = list(zip(out.user_codes[added].tolist(), out.item_codes[added].tolist(), strict=True))
    assert not seen & set(new) and len(set(new)) == 10
    assert out.timestamps[added].min() == catalogue.timestamps.max()
    # one prompt per user and round, each listing at most n_candidates numbered lines
    prompts = [p for op, p in log if op == "choose"]
    assert len(prompts) == 10
    assert all(1 <= len(_candidates_in(p)) <= 3 for p in prompts)
    assert _candidates_in(prompts[0])[0].startswith("1. ")
    edits = augmenter.edited_rows_
    assert edits["role"].eq("positive").all() and len(edits) == 10
    assert edits[["user_id", "item_id"]].apply(tuple, axis=1).tolist() == [
        (catalogue.user_ids[u], catalogue.item_ids[i]) for u, i in new]


def test_repeated_titles_map_back_to_the_chosen_item(catalogue):
    """Items "a" and "c" are both titled Alien: the numbered option decides which one."""
    user3 = catalogue.take(np.flatnonzero(catalogue.user_ids[catalogue.user_codes] == 3))
    for position in range(5):
        llm = ScriptedLLM(chooser=_pick(position), name=f"pick{position}")
        augmenter = LLMInteractionAugmenter(llm, n_candidates=5)
        out = augmenter.fit_transform(user3)
        offered = augmenter.retriever_.candidates([2], 5, user3.to_csr())[0]
        assert out.item_codes[-1] == offered[position]
    aliens = catalogue.encode_items(["a", "c"])
    assert np.isin(aliens, offered).all()  # both Alien items were offered


def test_options_are_distinct_even_with_repeated_titles(catalogue):
    log = []
    LLMInteractionAugmenter(recording_llm(log), n_candidates=8).fit(catalogue)
    for _, prompt in log:
        lines = _candidates_in(prompt)
        assert len(set(lines)) == len(lines)
    user3 = [p for _, p in log if "- Heat\n- Fargo\n- Ran\n" in p][0]
    aliens = [line for line in _candidates_in(user3) if line.endswith(". Alien")]
    assert len(aliens) == 2 and aliens[0] != aliens[1]


def test_negatives_become_triples(catalogue):
    existing = np.array([[0, 0, 7]])
    data = catalogue.with_artifacts(negatives=existing)
    llm = ScriptedLLM(chooser=lambda prompt, options:
                      options[-1] if "least" in prompt else options[0], name="first-last")
    augmenter = LLMInteractionAugmenter(llm, n_candidates=4, n_positive=1,
                                        sample_negatives=True)
    out = augmenter.fit_transform(data)
    triples = out.artifacts["negatives"]
    assert augmenter.n_negatives_ == 5 and triples.shape == (6, 3)
    np.testing.assert_array_equal(triples[0], existing[0])
    added = out.augmented_mask()
    assert triples[1:, :2].tolist() == np.c_[out.user_codes[added], out.item_codes[added]].tolist()
    seen = set(zip(data.user_codes.tolist(), data.item_codes.tolist(), strict=True))
    assert all((u, n) not in seen and n != p for u, p, n in triples[1:].tolist())
    assert (augmenter.edited_rows_["role"] == "negative").sum() == 5
    assert len(out) == len(data) + 5  # negatives are not rows


@pytest.mark.parametrize("retriever", ["popularity", "item_knn", "recommender"])
def test_retrievers_propose_unseen_items(catalogue, retriever):
    if retriever == "recommender":
        retriever = PopularityRecommender().fit(catalogue)
    augmenter = LLMInteractionAugmenter(ScriptedLLM(chooser=_pick(0), name="first"),
                                        retriever=retriever, n_candidates=3)
    augmenter.fit(catalogue)
    candidates = augmenter.retriever_.candidates(np.arange(5), 3, catalogue.to_csr())
    for user, row in enumerate(candidates):
        own = catalogue.item_codes[catalogue.user_codes == user]
        assert not np.isin(row[row >= 0], own).any()
        assert (row >= 0).sum() == 3


def test_popularity_and_item_knn_rank_as_documented(catalogue):
    popular = LLMInteractionAugmenter(ScriptedLLM(chooser=_pick(0), name="first"),
                                      n_candidates=2).fit(catalogue).retriever_
    # counts: a=4, b=2, d=2, e=2, f=1 -> user 3 (saw b, e, f) gets a, then d (lower code)
    codes = popular.candidates(catalogue.encode_users([3]), 2, catalogue.to_csr())[0]
    assert catalogue.item_ids[codes].tolist() == ["a", "d"]
    knn = LLMInteractionAugmenter(ScriptedLLM(chooser=_pick(0), name="first"),
                                  retriever="item_knn").fit(catalogue).retriever_
    # user 5 saw only "a"; "d" co-occurs with "a" for users 1 and 4 (b, e: once)
    codes = knn.candidates(catalogue.encode_users([5]), 1, catalogue.to_csr())[0]
    assert catalogue.item_ids[codes].tolist() == ["d"]


def test_an_unfitted_recommender_is_rejected(catalogue):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LLMInteractionAugmenter(ScriptedLLM(), retriever=PopularityRecommender()).fit(catalogue)


def test_failed_llm_calls_are_counted_not_guessed(catalogue):
    def flaky(prompt, options):
        if "Fargo" in prompt.split("Candidate items")[0]:  # users 2 and 3 saw Fargo
            raise RuntimeError("model crashed")
        return options[0]

    llm = ScriptedLLM(chooser=flaky, name="flaky", on_error="skip", max_retries=0)
    augmenter = LLMInteractionAugmenter(llm, n_candidates=2)
    out = augmenter.fit_transform(catalogue)
    assert augmenter.n_failed_ == 2 and augmenter.n_added_ == 3
    assert len(out) == len(catalogue) + 3


def test_user_fraction_samples_reproducibly(catalogue):
    def run(seed):
        augmenter = LLMInteractionAugmenter(ScriptedLLM(chooser=_pick(0), name="first"),
                                            n_candidates=2, user_fraction=0.4,
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
    augmenter = LLMInteractionAugmenter(encoder=encoder, strategy="embedding", n_positive=1,
                                        max_history=5)
    out = augmenter.fit_transform(catalogue)
    vectors = encoder.embed(catalogue.item_text().tolist())
    for user in range(catalogue.n_users):
        own = catalogue.item_codes[catalogue.user_codes == user]
        profile = vectors[own].mean(axis=0)
        scores = vectors @ (profile / np.linalg.norm(profile))
        scores[own] = -np.inf
        added = out.item_codes[out.augmented_mask() & (out.user_codes == user)]
        assert added.tolist() == [int(np.argmax(scores))]
    assert augmenter.encoder_ is encoder and augmenter.llm_stats_ == {}


def test_embedding_skips_users_whose_items_have_no_text(small_data):
    augmenter = LLMInteractionAugmenter(encoder=HashingEncoder(32), strategy="embedding")
    out = augmenter.fit_transform(small_data)
    # user 3 saw only "d", which has no text; users 1 and 2 get the nearest unseen item
    assert sorted(out.user_ids[out.user_codes[out.augmented_mask()]]) == [1, 2]
    assert "added 2 rows for 2 of 3 sampled users" in augmenter._report()


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
    augmenter = LLMInteractionAugmenter(encoder=HashingEncoder(256), strategy="denoise",
                                        denoise_fraction=0.25, verbose=True)
    out = augmenter.fit_transform(noisy)
    assert augmenter.n_scored_ == 12 and augmenter.n_dropped_ == 3 and len(out) == 9
    assert "f" not in out.item_ids[out.item_codes].tolist()  # the cooking rows went
    assert augmenter.edited_rows_["role"].eq("dropped").all()
    assert augmenter.edited_rows_["item_id"].tolist() == ["f", "f", "f"]
    assert "dropped 3" in capsys.readouterr().out


def test_denoise_downweights_instead_of_dropping(noisy):
    augmenter = LLMInteractionAugmenter(encoder=HashingEncoder(256), strategy="denoise",
                                        denoise_fraction=0.25, denoise_action="downweight",
                                        denoise_weight=0.1)
    out = augmenter.fit_transform(noisy)
    assert len(out) == len(noisy) and augmenter.n_downweighted_ == 3
    is_noise = noisy.item_ids[noisy.item_codes] == "f"
    np.testing.assert_allclose(out.row_weights()[is_noise], 0.1)
    np.testing.assert_allclose(out.row_weights()[~is_noise], 1.0)


def test_denoise_keeps_each_users_best_row():
    items = pd.DataFrame({"text": ["space", "cooking", "ocean"]}, index=list("abc"))
    rows = pd.DataFrame({"user_id": [1, 1, 2, 2, 2], "item_id": list("ab" + "abc")})
    data = InteractionData.from_pandas(rows, items)
    augmenter = LLMInteractionAugmenter(encoder=HashingEncoder(64), strategy="denoise",
                                        denoise_fraction=1.0)
    out = augmenter.fit_transform(data)
    assert sorted(set(out.user_ids[out.user_codes])) == [1, 2]
    assert augmenter.n_dropped_ == 3


def test_denoise_with_the_llm_scorer(noisy):
    log = []

    def scorer(prompt, options):
        log.append(prompt)
        fits = "whisk" not in prompt.split('item "', 1)[1]
        return np.log([0.9, 0.1]) if fits else np.log([0.1, 0.9])

    llm = ScriptedLLM(scorer=scorer, name="judge")
    augmenter = LLMInteractionAugmenter(llm, strategy="denoise", denoise_scorer="llm",
                                        denoise_fraction=0.25, title_col="text")
    out = augmenter.fit_transform(noisy)
    assert len(log) == 12 and augmenter.n_dropped_ == 3
    assert "f" not in out.item_ids[out.item_codes].tolist()
    judged = [p for p in log if 'item "kitchen whisk dough"' in p]
    assert len(judged) == 3
    assert all("- kitchen whisk dough" not in p for p in judged)  # not in its own history


# ---------------------------------------------------------------------- contract
def test_transform_returns_its_input_unchanged(catalogue):
    from sklearn.exceptions import NotFittedError

    augmenter = LLMInteractionAugmenter(ScriptedLLM(chooser=_pick(0), name="first"),
                                        n_candidates=2)
    with pytest.raises(NotFittedError):
        augmenter.transform(catalogue)
    augmented = augmenter.fit_transform(catalogue)
    assert len(augmented) > len(catalogue)
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
        LLMInteractionAugmenter(topic_oracle(data, truth), n_candidates=5, user_fraction=0.1,
                                random_state=0),
        _Spy(), PopularityRecommender(),
    ).fit(train)
    assert pipe[1].fit_lengths_ == [len(train) + 30, 30]
    pipe.score(test)
    assert pipe[1].transform_lengths_ == [len(test), 0]


@pytest.mark.parametrize("param, value, message", [
    ("strategy", "augment", "strategy"),
    ("n_positive", 0, "n_positive"),
    ("n_candidates", 1.5, "n_candidates"),
    ("user_fraction", 0.0, "user_fraction"),
    ("denoise_fraction", 2.0, "denoise_fraction"),
    ("denoise_action", "remove", "denoise_action"),
    ("augmented_weight", 0, "augmented_weight"),
    ("select_template", "{history} {rating}", "rating"),
    ("retriever", "random", "retriever"),
])
def test_bad_parameters_raise_in_fit(catalogue, param, value, message):
    augmenter = LLMInteractionAugmenter(ScriptedLLM()).set_params(**{param: value})
    with pytest.raises(ValueError, match=message):
        augmenter.fit(catalogue)


def test_llm_select_needs_an_llm(catalogue):
    with pytest.raises(ValueError, match="needs an llm"):
        LLMInteractionAugmenter().fit(catalogue)
    with pytest.raises(TypeError, match="choose"):
        LLMInteractionAugmenter(object()).fit(catalogue)


def _expected_failed_checks(estimator):
    return {
        "check_transformer_general": "fit_transform adds rows to the training data while "
                                     "transform returns its input unchanged, as for "
                                     "TargetEncoder.",
        "check_fit_idempotent": "see check_transformer_general",
    }


def test_sklearn_api_checks():
    """scikit-learn's data-independent checks; the data checks need numeric 2-D arrays.

    ``check_estimator`` skips the augmenter (its input is an InteractionData, declared
    by ``two_d_array=False``); the checks below take no data. The contract that
    differs from scikit-learn's assumption is tested above
    (``test_transform_returns_its_input_unchanged``) and declared expected-to-fail.
    """
    augmenter = LLMInteractionAugmenter(ScriptedLLM(), HashingEncoder(8))
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


def test_pickle_and_clone(catalogue):
    augmenter = LLMInteractionAugmenter(ScriptedLLM(chooser=_second, name="second"),
                                        n_candidates=3, random_state=0).fit(catalogue)
    restored = pickle.loads(pickle.dumps(augmenter))
    pd.testing.assert_frame_equal(restored.edited_rows_, augmenter.edited_rows_)
    assert restored.transform(catalogue) is catalogue
    assert augmenter.get_params()["llm__name"] == "second"  # GridSearchCV reaches the LLM
    again = clone(augmenter).fit_transform(catalogue)
    assert again.item_codes.tolist() == augmenter.fit_transform(catalogue).item_codes.tolist()


# ---------------------------------------------------------------------- with models
def _lightfm(**params):
    return LightFMRecommender(**{"n_factors": 32, "epochs": 20, "random_state": 0, **params})


def test_beats_the_plain_model_on_text_signal_data(signal):
    data, truth, train, test = signal
    base = _lightfm().fit(train).score(test)
    pipe = make_pipeline(
        LLMInteractionAugmenter(topic_oracle(data, truth), n_candidates=20, n_positive=2,
                                random_state=0),
        _lightfm(),
    ).fit(train)
    enhanced = pipe.score(test)
    assert pipe[0].n_added_ == 2 * train.n_users
    assert enhanced > base + 0.01, (base, enhanced)


def test_grid_search_sends_no_prompt_twice(signal, tmp_path):
    data, truth, train, _ = signal
    small = train.take(np.flatnonzero(train.user_codes < 60))
    log = []
    llm = topic_oracle(data, truth, name="grid", log=log, cache=tmp_path / "cache")
    pipe = make_pipeline(
        LLMSummaryFeaturizer(llm, HashingEncoder(32), target="users", random_state=0),
        LLMInteractionAugmenter(llm, n_candidates=5, random_state=0),
        _lightfm(n_factors=8, epochs=2),
    )
    grid = {"llmsummaryfeaturizer__n_components": [None, 4],
            "llminteractionaugmenter__n_positive": [1, 2],
            "llminteractionaugmenter__augmented_weight": [0.2, 1.0]}
    search = GridSearchCV(pipe, grid, cv=LeaveLastOut(n_splits=2, random_state=0)).fit(small)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    prompts = [p for _, p in log]
    assert len(prompts) == len(set(prompts)) > 0
    n_generate = sum(op == "generate" for op, _ in log)
    n_users = len(np.unique(small.user_codes))
    assert n_generate <= 3 * n_users  # two folds and the refit, each user once


def test_fitted_pipeline_serves_without_the_llm(signal):
    data, truth, train, test = signal
    pipe = make_pipeline(
        LLMInteractionAugmenter(topic_oracle(data, truth), n_candidates=5, user_fraction=0.2,
                                random_state=0),
        _lightfm(n_factors=8, epochs=2),
    ).fit(train)
    before = pipe.predict(test)
    pipe.set_params(llminteractionaugmenter__llm=Raising())
    np.testing.assert_array_equal(pipe.predict(test), before)
    assert len(pipe[-1].recommend(data.user_ids[:2], k=3)) == 6
    assert pipe[0].transform(test) is test
    assert np.isfinite(pipe.score(test))


def test_llama_cpp_smoke(catalogue, tiny_gguf):
    """The real llama.cpp path: grammar-constrained choices are always catalogue items."""
    llm = LlamaCppLLM(tiny_gguf, n_ctx=512, cache=None, verbose=0)
    augmenter = LLMInteractionAugmenter(llm, n_candidates=4, sample_negatives=True,
                                        max_history=3)
    out = augmenter.fit_transform(catalogue)
    assert augmenter.n_added_ == 5 and augmenter.n_negatives_ == 5
    assert augmenter.llm_stats_["calls"] == 10
    triples = out.artifacts["negatives"]
    assert ((triples >= 0) & (triples < catalogue.n_items)).all()
