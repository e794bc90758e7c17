"""DryRunLLM: a fit through it counts what the real fit sends, and calls no model."""

import math
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone

from skllmers.datasets import make_text_signal
from skllmers.knowledge import LLMSummaryFeaturizer
from skllmers.llm import DryRunLLM, LlamaCppLLM
from skllmers.llm.testing import HashingEncoder, ScriptedLLM


@pytest.fixture(scope="module")
def data():
    return make_text_signal(n_users=12, n_items=20, interactions_per_user=5, random_state=0)


def summary_fit(llm, data):
    featurizer = LLMSummaryFeaturizer(llm, HashingEncoder(16), target="both", verbose=0)
    return featurizer.fit(data)


def test_a_dry_fit_counts_exactly_the_prompts_of_the_real_fit(data):
    real = ScriptedLLM()
    summary_fit(real, data)
    sent = real.stats()
    wrapped = ScriptedLLM()
    dry = DryRunLLM(wrapped, max_tokens=32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the placeholder is taken as an answer
        fitted = summary_fit(dry, data)
    report = dry.report()
    assert (fitted.summaries_["summary"] == "[dry run]").all()
    assert sent["requests"] > 20  # items and users
    assert report["n_prompts"] == sent["requests"]
    assert report["n_to_compute"] == sent["calls"]
    assert report["by_operation"]["generate"] == sent["calls"]
    assert report["max_generated_tokens"] == 32 * sent["calls"]
    assert wrapped.stats()["requests"] == 0 and wrapped.stats()["calls"] == 0
    assert fitted.llm_stats_["calls"] == 0
    prompts = fitted.summaries_["prompt"].dropna().unique().tolist()
    assert report["prompt_tokens"] == sum(math.ceil(len(p) / 4) for p in prompts)
    assert report["token_count"] == "chars/4"


def test_a_dry_fit_with_a_gguf_model_reads_only_its_vocabulary(data, tiny_chat_model_path):
    llm = LlamaCppLLM(tiny_chat_model_path, n_ctx=512, max_tokens=24, cache=None, verbose=0)
    dry = DryRunLLM(llm, tokens_per_second=50.0)
    fitted = summary_fit(dry, data)
    report = dry.report()
    assert set(llm._runtime().models) == {"vocab"}  # no context: no decoding at all
    assert llm.stats()["calls"] == 0
    prompts = fitted.summaries_["prompt"].dropna().unique().tolist()
    assert report["n_to_compute"] == len(prompts)
    assert report["token_count"] == "tokenizer"
    assert report["prompt_tokens"] == sum(llm.count_tokens(prompts))
    assert report["max_generated_tokens"] == 24 * len(prompts)
    assert report["estimated_seconds"] == pytest.approx(24 * len(prompts) / 50.0)


def test_gguf_token_counts_are_the_tokens_the_model_reads(tiny_chat_model_path):
    llm = LlamaCppLLM(tiny_chat_model_path, n_ctx=512, cache=None, verbose=0)
    prompts = ["Recommend a movie", "", "café ☕ and a much longer prompt " * 3]
    counts = llm.count_tokens(prompts)
    model = llm._model("generate")
    report = type("Report", (), {"truncated": 0})()
    assert counts == [len(llm._fit(model, prompt, 1, report)) for prompt in prompts]
    assert llm.count_tokens(["ab"], as_prompt=False) == [len(model.tokenize(b"ab", add_bos=False))]


def test_prompts_the_cache_already_answers_cost_nothing(tmp_path, data):
    summary_fit(ScriptedLLM(cache=tmp_path), data)
    dry = DryRunLLM(ScriptedLLM(cache=tmp_path), tokens_per_second=10.0, max_tokens=8)
    summary_fit(dry, data)
    report = dry.report()
    assert report["n_cached"] == report["n_unique"] > 0
    assert report["n_to_compute"] == report["prompt_tokens"] == 0
    assert report["estimated_seconds"] == 0


def test_repeated_prompts_count_as_the_backend_computes_them():
    dry = DryRunLLM(ScriptedLLM(cache=None), max_tokens=4)
    dry.generate(["same", "same", "other"])
    dry.generate(["same"])  # no cache: computed again in a new call
    assert (dry.report()["n_prompts"], dry.report()["n_to_compute"]) == (4, 3)
    cached = DryRunLLM(max_tokens=4)  # a backend of unknown kind is assumed to cache
    cached.generate(["same", "same", "other"])
    cached.generate(["same"])
    assert (cached.report()["n_prompts"], cached.report()["n_to_compute"]) == (4, 2)


def test_neutral_answers():
    dry = DryRunLLM()
    assert dry.generate(["a", ""]) == ["[dry run]", "[dry run]"]
    assert dry.choose_many(["a", "b"], [["x", "y"], ["z", "w", "v"]]) == ["x", "z"]
    scores = dry.score_options("a", ["x", "y", "z", "w"])
    np.testing.assert_allclose(scores, np.log(0.25))
    report = dry.report()
    assert report["by_operation"] == {"generate": 2, "choose": 2, "score_options": 1}
    # choices: the longest option (1 token by chars/4) + 1; scores read their options
    assert report["max_generated_tokens"] == 2 * 128 + 2 * 2
    assert report["prompt_tokens"] == 1 + 0 + 1 + 1 + 1 + 4


def test_time_estimate_adds_prompt_reading_when_its_rate_is_given():
    dry = DryRunLLM(tokens_per_second=10.0, prompt_tokens_per_second=100.0, max_tokens=10)
    dry.generate(["x" * 400])
    assert dry.report()["estimated_seconds"] == pytest.approx(10 / 10 + 100 / 100)
    assert DryRunLLM().report()["estimated_seconds"] is None


def test_bad_rates_and_budgets_are_clear_errors():
    with pytest.raises(ValueError, match="tokens_per_second must be a positive number"):
        DryRunLLM(tokens_per_second=0).report()
    with pytest.raises(ValueError, match="max_tokens must be a positive integer"):
        DryRunLLM(max_tokens=0).generate(["a"])
    with pytest.raises(TypeError, match="list of strings"):
        DryRunLLM().generate("a single prompt")


def test_counts_are_not_parameters(data):
    dry = DryRunLLM(ScriptedLLM(), max_tokens=8)
    dry.generate(["a"])
    assert clone(dry).report()["n_prompts"] == 0
    assert pickle.loads(pickle.dumps(dry)).report()["n_prompts"] == 0
    assert dry.reset().report()["n_prompts"] == 0
    assert dry.identity()["model"] == ScriptedLLM().identity()
