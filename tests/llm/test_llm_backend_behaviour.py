"""Behaviour shared by every backend, checked on the model-free test doubles."""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone

from skllmers.llm import LLMCallError
from skllmers.llm.testing import HashingEncoder, ScriptedLLM


class FailingFirst:
    """A responder that fails its first ``n_failures`` calls, then answers."""

    def __init__(self, n_failures, error=RuntimeError):
        self.n_failures = n_failures
        self.error = error
        self.calls = 0

    def __call__(self, prompt):
        self.calls += 1
        if self.calls <= self.n_failures:
            raise self.error(f"transient failure {self.calls}")
        return f"ok: {prompt}"


@pytest.mark.parametrize(
    "bad, message",
    [
        ("a single prompt", "wrap it in a list"),
        (["fine", 3], r"prompts\[1\] must be a str, got int"),
        (["fine", None], r"prompts\[1\] must be a str, got NoneType"),
        (12, "must be a list of strings"),
    ],
)
def test_non_string_prompts_raise_type_error(bad, message):
    with pytest.raises(TypeError, match=message):
        ScriptedLLM().generate(bad)


def test_empty_strings_and_array_inputs_are_accepted():
    llm = ScriptedLLM(lambda prompt: f"<{prompt}>")
    assert llm.generate([""]) == ["<>"]
    assert llm.generate(np.array(["a", "b"])) == ["<a>", "<b>"]
    assert llm.generate([]) == []
    assert llm.embed([""]).shape == (1, 32)
    assert llm.embed([]).shape == (0, 32)


def test_embed_rejects_non_strings():
    with pytest.raises(TypeError, match=r"texts\[0\] must be a str, got float"):
        HashingEncoder().embed([float("nan")])


@pytest.mark.parametrize(
    "options, message",
    [([], "options is empty"), (["a", ""], "empty string"), (["a", "a"], "repeated")],
)
def test_bad_option_lists_raise_value_error(options, message):
    with pytest.raises(ValueError, match=message):
        ScriptedLLM().choose("prompt", options)


def test_options_list_must_match_prompts():
    with pytest.raises(ValueError, match="2 prompts but 3 option lists"):
        ScriptedLLM().choose_many(["a", "b"], [["x"], ["y"], ["z"]])


def test_choose_many_with_shared_and_per_prompt_options():
    llm = ScriptedLLM()
    assert llm.choose_many(["red apple", "green pear"], ["pear", "apple"]) == ["apple", "pear"]
    assert llm.choose_many(["red apple", "x"], [["apple"], ["y", "z"]]) == ["apple", "y"]


def test_transient_failures_are_retried():
    responder = FailingFirst(2)
    llm = ScriptedLLM(responder, max_retries=2)
    assert llm.generate(["q"]) == ["ok: q"]
    stats = llm.stats()
    assert (stats["retries"], stats["calls"], stats["failures"]) == (2, 3, 0)


def test_persistent_failure_raises_after_the_retries():
    responder = FailingFirst(100)
    llm = ScriptedLLM(responder, max_retries=3)
    with pytest.raises(LLMCallError, match="failed 4 time"):
        llm.generate(["q"])
    assert responder.calls == 4


def test_skip_records_missing_values_and_counts_them():
    llm = ScriptedLLM(FailingFirst(3), max_retries=2, on_error="skip")
    assert llm.generate(["first", "second"]) == [None, "ok: second"]
    stats = llm.stats()
    assert stats["failures"] == 1
    assert "transient failure 3" in stats["recent_errors"][0]


def test_skip_gives_nan_scores_and_embeddings():
    def broken_scorer(prompt, options):
        raise RuntimeError("no scores today")

    llm = ScriptedLLM(scorer=broken_scorer, on_error="skip", max_retries=0)
    assert np.isnan(llm.score_options("p", ["a", "b"])).all()
    encoder = HashingEncoder(embed_dim=4, on_error="skip", max_retries=0)
    encoder._compute = _fail_on_text("poison", encoder._compute)
    vectors = encoder.embed(["fine", "poison", "also fine"])
    assert np.isnan(vectors[1]).all() and not np.isnan(vectors[[0, 2]]).any()
    assert encoder.stats()["failures"] == 1


def _fail_on_text(bad_text, compute):
    def compute_or_fail(operation, payloads, report):
        if any(payload["text"] == bad_text for payload in payloads):
            raise RuntimeError(f"cannot embed {bad_text}")
        return compute(operation, payloads, report)

    return compute_or_fail


def test_out_of_catalogue_choice_is_an_error():
    llm = ScriptedLLM(chooser=lambda prompt, options: "not an option", max_retries=1)
    with pytest.raises(LLMCallError, match="not one of the options"):
        llm.choose("p", ["a", "b"])


def test_programming_errors_are_not_retried():
    responder = FailingFirst(100, error=TypeError)
    with pytest.raises(TypeError):
        ScriptedLLM(responder, max_retries=5, on_error="skip").generate(["q"])
    assert responder.calls == 1


def test_invalid_run_parameters():
    with pytest.raises(ValueError, match="on_error must be one of"):
        ScriptedLLM(on_error="ignore").generate(["q"])
    with pytest.raises(ValueError, match="max_retries must be a non-negative integer"):
        ScriptedLLM(max_retries=-1).generate(["q"])


def test_identical_inputs_are_computed_once():
    calls = []
    llm = ScriptedLLM(lambda prompt: calls.append(prompt) or prompt)
    assert llm.generate(["a", "b", "a", "a"]) == ["a", "b", "a", "a"]
    assert calls == ["a", "b"]


def test_sklearn_parameter_protocol():
    llm = ScriptedLLM(embed_dim=8, max_retries=1)
    assert llm.get_params()["embed_dim"] == 8
    llm.set_params(embed_dim=4)
    assert llm.embed(["x y"]).shape == (1, 4)
    twin = clone(llm)
    assert twin is not llm and twin.get_params() == llm.get_params()
    assert "_runtime_state" not in twin.__dict__


def test_pickle_keeps_parameters_and_drops_runtime_state():
    llm = ScriptedLLM(embed_dim=8)
    llm.generate(["warm up"])
    restored = pickle.loads(pickle.dumps(llm))
    assert restored.get_params()["embed_dim"] == 8
    assert "_runtime_state" not in restored.__dict__
    assert restored.stats()["calls"] == 0


def test_identity_changes_with_output_parameters():
    assert ScriptedLLM(embed_dim=8).identity() != ScriptedLLM(embed_dim=16).identity()
    assert ScriptedLLM(name="a").identity() != ScriptedLLM(name="b").identity()
    assert ScriptedLLM(verbose=1).identity() == ScriptedLLM(verbose=0).identity()


def _shout(prompt):
    return prompt.upper()


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_parallel_results_equal_sequential_results(backend):
    prompts = [f"prompt number {i}" for i in range(40)]
    sequential = ScriptedLLM(_shout).generate(prompts)
    parallel_llm = ScriptedLLM(_shout, n_jobs=2, backend=backend)
    assert parallel_llm.generate(prompts) == sequential
    assert parallel_llm.stats()["calls"] == 40
    texts = [f"text {i % 7}" for i in range(50)]
    np.testing.assert_allclose(
        HashingEncoder(n_jobs=2, backend=backend).embed(texts), HashingEncoder().embed(texts)
    )


def test_parallel_config_context_is_honoured():
    llm = ScriptedLLM(_shout)
    with joblib.parallel_config(backend="threading", n_jobs=2):
        assert llm.generate(["a", "b", "c"]) == ["A", "B", "C"]


def test_parallel_errors_propagate_with_context():
    llm = ScriptedLLM(FailingFirst(1000), n_jobs=2, backend="threading", max_retries=0)
    with pytest.raises(LLMCallError, match="transient failure"):
        llm.generate([f"p{i}" for i in range(6)])


def test_progress_bar_follows_verbose(capsys):
    ScriptedLLM(verbose=0).generate(["a", "b"])
    assert "ScriptedLLM.generate" not in capsys.readouterr().err
    ScriptedLLM(verbose=1).generate(["a", "b"])
    assert "ScriptedLLM.generate" in capsys.readouterr().err
