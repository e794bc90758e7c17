"""OpenAICompatibleLLM against a real server: llama-cpp-python's, serving SmolLM2 on 127.0.0.1.

One server process for the session serves two aliases of the same GGUF file:
``smollm2`` (generation, echo log-probabilities) and ``smollm2-embed`` (mean
pooled embeddings); it swaps the model on demand. Faults are tested against a
scripted server in test_llm_openai.py.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from skllmers import InteractionData
from skllmers.knowledge import LLMSummaryFeaturizer
from skllmers.llm import CHATML_TEMPLATE, LlamaCppLLM, LLMCallError, OpenAICompatibleLLM
from skllmers.llm.testing import HashingEncoder

pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server]")

# SmolLM2's ChatML with no system message: begins with its BOS token <|im_start|>
CHATML = "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"
READY_TIMEOUT_S = 90


@pytest.fixture(autouse=True)
def no_proxy_for_localhost(monkeypatch):
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_ready(process, url, log_path):
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited ({process.returncode}):\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url + "/models", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"llama_cpp.server not ready after {READY_TIMEOUT_S} s:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def llama_server(smollm2_path, tmp_path_factory):
    """Base URL of a llama-cpp-python server on 127.0.0.1 (terminated after the session)."""
    folder = tmp_path_factory.mktemp("llama-server")
    port = _free_port()
    common = {
        "model": str(smollm2_path),
        "n_threads": 1,
        "n_threads_batch": 1,
        "n_ctx": 512,
        "seed": 0,
        "verbose": False,
    }
    config = {
        "host": "127.0.0.1",
        "port": port,
        "models": [
            {**common, "model_alias": "smollm2"},
            {
                **common,
                "model_alias": "smollm2-embed",
                "embedding": True,
                "kv_overrides": ["llama.pooling_type=int:1"],
            },  # mean pooling
        ],
    }
    config_path = folder / "config.json"
    config_path.write_text(json.dumps(config))
    log_path = folder / "server.log"
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "no_proxy": "127.0.0.1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--config_file", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_ready(process, url, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def make_llm(url, **params):
    return OpenAICompatibleLLM(url, "smollm2", **{"cache": None, "verbose": 0, **params})


def test_generate_over_chat_and_completions(llama_server):
    chat = make_llm(llama_server, max_tokens=8)
    texts = chat.generate(["Name one famous film.", "Say hello."])
    assert len(texts) == 2 and all(isinstance(text, str) and text.strip() for text in texts)
    raw = make_llm(llama_server, max_tokens=8, endpoint="completions", completion_template=CHATML)
    [text] = raw.generate(["Say hello."])
    assert text.strip()
    assert raw.stats()["calls"] == 1


def test_concurrent_requests_give_the_sequential_answers(llama_server):
    prompts = [f"Count to {n}." for n in range(2, 6)]
    parallel = make_llm(llama_server, max_tokens=6, max_concurrency=4).generate(prompts)
    sequential = make_llm(llama_server, max_tokens=6, max_concurrency=1).generate(prompts)
    assert parallel == sequential


def test_echo_scores_equal_local_llama_cpp_and_are_cached(llama_server, smollm2_path, tmp_path):
    options = ["Apple", "Car"]
    llm = make_llm(llama_server, completion_template=CHATML, cache=tmp_path)
    remote = llm.score_options("Fruit?", options)
    local = LlamaCppLLM(
        smollm2_path, chat_format=CHATML_TEMPLATE, n_ctx=512, n_threads=1, cache=None, verbose=0
    ).score_options("Fruit?", options)
    np.testing.assert_allclose(remote, local, atol=1e-3)
    assert llm.stats()["calls"] == 2  # one request per option
    again = make_llm(llama_server, completion_template=CHATML, cache=tmp_path)
    np.testing.assert_array_equal(again.score_options("Fruit?", options), remote)
    assert again.stats()["calls"] == 0 and again.stats()["cache_hits"] == 1


def test_echo_without_the_bos_token_is_refused(llama_server):
    with pytest.raises(LLMCallError, match="BOS token"):
        make_llm(llama_server).score_options("Fruit?", [" Apple"])


def test_first_token_choice_follows_the_candidates_not_their_order(llama_server):
    llm = make_llm(llama_server, scoring="first_token")
    prompt = "Which is a fruit? Answer with one word."
    scores = llm.score_options(prompt, ["Apple", "Car"])
    assert np.isfinite(scores).all() and scores[0] > scores[1]
    assert llm.choose(prompt, ["Apple", "Car"]) == llm.choose(prompt, ["Car", "Apple"]) == "Apple"


def test_embed_equals_local_mean_pooling_and_is_cached(llama_server, smollm2_path, tmp_path):
    texts = ["a space opera", "a cooking show", ""]
    llm = make_llm(llama_server, embedding_model="smollm2-embed", batch_size=2, cache=tmp_path)
    vectors = llm.embed(texts)
    assert vectors.shape == (3, 576)
    np.testing.assert_allclose(np.linalg.norm(vectors[:2], axis=1), 1, rtol=1e-5)
    assert not vectors[2].any()
    local = LlamaCppLLM(
        smollm2_path, pooling="mean", n_ctx=512, n_threads=1, cache=None, verbose=0
    ).embed(texts[:2])
    assert (np.sum(vectors[:2] * local, axis=1) > 0.999).all()
    assert llm.stats()["calls"] == 1
    np.testing.assert_array_equal(llm.embed(texts), vectors)
    assert llm.stats()["calls"] == 1


def test_a_featurizer_fits_through_the_server_and_refits_from_the_cache(llama_server, tmp_path):
    items = pd.DataFrame(
        {"title": ["Heat", "Up", "Alien"]}, index=pd.Index(["h", "u", "a"], name="item_id")
    )
    rows = pd.DataFrame({"user_id": [1, 1, 2], "item_id": ["h", "u", "a"], "t": [1, 2, 1]})
    data = InteractionData.from_pandas(rows, items, time_col="t")
    llm = make_llm(llama_server, max_tokens=8, max_concurrency=3, cache=tmp_path)
    featurizer = LLMSummaryFeaturizer(llm=llm, encoder=HashingEncoder(16)).fit(data)
    assert llm.stats()["calls"] == 3  # one summary per item
    assert featurizer.summaries_["summary"].str.strip().str.len().gt(0).all()
    refit = clone(featurizer).fit(data)
    assert refit.llm.stats()["calls"] == 0 and refit.llm.stats()["cache_hits"] == 3
    assert refit.summaries_["summary"].tolist() == featurizer.summaries_["summary"].tolist()
