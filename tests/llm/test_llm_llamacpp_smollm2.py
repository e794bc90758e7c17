"""LlamaCppLLM with a real instruct model: SmolLM2-135M-Instruct (Q4_1 GGUF).

The ``smollm2_path`` fixture (root conftest.py) skips these tests with the
reason when the model cannot be had. One thread and a few tokens keep each
test to about a second.
"""

import warnings

import numpy as np
import pytest

from skllmers.llm import LlamaCppLLM, PromptTruncatedWarning
from skllmers.llm._batched import MIN_SHARED_PREFIX

llama_cpp = pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.llama

PROMPTS = [
    "Describe the movie Alien (1979) in one sentence.",
    "What is 2+2?",
    "Write a short summary of a user who watched: Toy Story | Jumanji | Heat | Casino | "
    "Sabrina | GoldenEye | Balto, and liked animated family films and crime thrillers.",
    "Hi",
    "List three science fiction films.",
    "Why do people like romantic comedies? Explain briefly.",
    "Name a color.",
    "Translate 'cat' to French.",
    "Suggest a movie for a rainy Sunday afternoon with the family, and say why in a few words.",
]
MOVIES = ["Alien", "Heat", "Toy Story", "Casablanca", "The Godfather Part II"]


def make_llm(path, **params):
    params = {
        "cache": None,
        "verbose": 0,
        "max_tokens": 16,
        "n_threads": 1,
        "n_ctx": 512,
        **params,
    }
    return LlamaCppLLM(path, **params)


@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    """One loaded SmolLM2 backend shared by the read-only tests of this module."""
    return make_llm(smollm2_path)


def test_the_models_chat_template_is_applied_by_default(smollm2):
    model = smollm2._model("generate")
    text, special = smollm2._prompt_text(model, "Hello")
    assert text.startswith("<|im_start|>system\n") and special
    assert text.endswith("<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n")
    _, tokenize = smollm2._tokenize_prompt(model, "Hello")
    tokens = tokenize(text)
    im_start = model.tokenize(b"<|im_start|>", add_bos=False, special=True)
    assert len(im_start) == 1 and tokens.count(im_start[0]) == 3  # a control token each
    assert smollm2.identity()["params"]["chat_template_sha256"] is not None


def test_generation_equals_llama_cpp_pythons_chat_completion(smollm2_path, smollm2):
    direct = llama_cpp.Llama(str(smollm2_path), n_ctx=512, n_threads=1, verbose=False)
    prompt = PROMPTS[0]
    reply = direct.create_chat_completion(
        [{"role": "user", "content": prompt}], max_tokens=16, temperature=0.0
    )
    assert smollm2.generate([prompt]) == [reply["choices"][0]["message"]["content"]]


def test_raw_completion_stays_available(smollm2_path, smollm2):
    raw = make_llm(smollm2_path, chat_format=None)
    assert raw._prompt_text(raw._model("generate"), "Hello") == ("Hello", False)
    assert raw.generate(PROMPTS[:1]) != smollm2.generate(PROMPTS[:1])


def test_the_real_tokenizer_splits_words_not_bytes(smollm2):
    model = smollm2._model("generate")
    text = "Hello world, this is a tokenizer test."
    tokens = model.tokenize(text.encode(), add_bos=False)
    assert 5 <= len(tokens) <= 12  # whole words, where the tiny model spells bytes
    assert model.detokenize(tokens).decode() == text


def test_generation_is_deterministic(smollm2_path, smollm2):
    first = smollm2.generate(PROMPTS[:3])
    assert all(isinstance(text, str) and text.strip() for text in first)
    assert make_llm(smollm2_path).generate(PROMPTS[:3]) == first
    assert smollm2.generate(PROMPTS[:3]) == first  # a warm context answers the same


def test_the_grammar_constrained_choice_is_an_option_and_sensible(smollm2):
    question = "Which of these is a fruit?"
    for options in (["apple", "car", "chair"], ["car", "chair", "apple"]):
        assert smollm2.choose(question, options) == "apple"
    answers = smollm2.choose_many(PROMPTS[:4], MOVIES)
    assert set(answers) <= set(MOVIES)


def test_option_scores_rank_the_right_answer_first(smollm2_path, smollm2):
    scores = smollm2.score_options(
        "What is the capital of France? Answer with one word.", ["Paris", "Banana"]
    )
    assert scores.shape == (2,) and np.all(scores < 0)
    assert scores[0] > scores[1] + 3
    raw = make_llm(smollm2_path, chat_format=None)
    raw_scores = raw.score_options("The capital of France is", [" Paris", " banana"])
    assert np.exp(raw_scores[0]) > 0.5 > np.exp(raw_scores[1])


def test_embeddings_of_the_instruct_model(smollm2):
    texts = ["a science fiction movie about aliens", "a recipe for pancakes", ""]
    vectors = smollm2.embed(texts + texts[:1])
    assert vectors.shape == (4, 576) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors[:2], axis=1), 1, rtol=1e-5)
    assert np.all(vectors[2] == 0)  # the empty text has no token to pool
    np.testing.assert_allclose(vectors[3], vectors[0], atol=1e-6)
    assert abs(float(vectors[0] @ vectors[1])) < 0.999


# ------------------------------------------------------------ batched decoding
def test_batched_greedy_generation_equals_one_at_a_time(smollm2_path, smollm2):
    one_at_a_time = smollm2.generate(PROMPTS)
    for n_parallel in (3,):  # 9 prompts: each slot is refilled twice
        batched = make_llm(smollm2_path, n_parallel=n_parallel)
        assert batched.generate(PROMPTS) == one_at_a_time
        assert batched.stats()["calls"] == len(PROMPTS)
        # the chat template's head (system prompt included) was read once, then copied
        assert batched._model("batch").shared_prefix_tokens >= MIN_SHARED_PREFIX


def test_batched_constrained_choice_equals_one_at_a_time(smollm2_path, smollm2):
    options_list = [MOVIES, MOVIES[::-1], ["yes", "no"], ["Alien", "Aliens", "Alien 3"]] * 2
    prompts = PROMPTS[: len(options_list)]
    expected = smollm2.choose_many(prompts, options_list)
    batched = make_llm(smollm2_path, n_parallel=3)
    assert batched.choose_many(prompts, options_list) == expected


def test_batched_sampling_at_a_temperature_equals_one_at_a_time(smollm2_path):
    # Each sequence samples from its own stream seeded as one-at-a-time generation is.
    hot = {"temperature": 0.9, "seed": 3}
    expected = make_llm(smollm2_path, **hot).generate(PROMPTS[:4])
    assert make_llm(smollm2_path, n_parallel=4, **hot).generate(PROMPTS[:4]) == expected


def test_batched_generation_truncates_and_caches_like_one_at_a_time(tmp_path, smollm2_path):
    history = " | ".join(f"Movie {i}" for i in range(300))
    prompts = [f"Summarise the taste of a user who watched: {history}", *PROMPTS[:3]]
    one = make_llm(smollm2_path, n_ctx=256, max_tokens=8)
    with pytest.warns(PromptTruncatedWarning, match="1 prompt"):
        expected = one.generate(prompts)
    batched = make_llm(smollm2_path, n_ctx=256, max_tokens=8, n_parallel=4, cache=tmp_path)
    with pytest.warns(PromptTruncatedWarning, match="1 prompt"):
        assert batched.generate(prompts) == expected
    assert batched.stats()["truncated"] == 1
    again = make_llm(smollm2_path, n_ctx=256, max_tokens=8, n_parallel=4, cache=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PromptTruncatedWarning)
        assert again.generate(prompts) == expected
    assert (again.stats()["calls"], again.stats()["models_loaded"]) == (0, 0)


def test_a_failing_prompt_of_a_batch_is_skipped_alone(smollm2_path, smollm2):
    long_option = "x" * 600  # more grammar tokens than the 512-token context holds
    options_list = [MOVIES, [long_option, "Up"], MOVIES]
    batched = make_llm(smollm2_path, n_parallel=4, on_error="skip", max_retries=0)
    answers = batched.choose_many(PROMPTS[:3], options_list)
    assert answers[1] is None
    assert answers[0::2] == smollm2.choose_many(PROMPTS[0:3:2], MOVIES)
    stats = batched.stats()
    assert stats["failures"] == 1 and "shorten the longest option" in stats["recent_errors"][0]
