"""OpenAICompatibleLLM against a small scripted HTTP server on 127.0.0.1: replies, faults, keys.

The happy path against a real server (llama-cpp-python's, with SmolLM2) is in
test_llm_openai_server.py.
"""

import doctest
import json
import pickle
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from sklearn.base import clone

import skllmers.llm._openai as openai_module
from skllmers.llm import APIKey, LLMCallError, OpenAICompatibleLLM, ServerReplyError


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # http.server's 5 would drop concurrent connections


class ScriptedServer:
    """An HTTP server answering each POST with the next scripted reply (or a default one).

    A reply is a dict with ``status`` (200), ``body`` (a JSON-able object, or
    bytes sent as is), ``headers`` and ``delay`` (seconds slept first); a
    callable gets the request's JSON body and returns such a dict.
    """

    def __init__(self):
        self.replies = []
        self.default = None
        self.requests = []  # (path, headers, body) of every POST
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the http.server API)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"null")
                with server.lock:
                    server.requests.append((self.path, dict(self.headers), body))
                    reply = server.replies.pop(0) if server.replies else server.default
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                try:
                    self._answer(reply(body) if callable(reply) else reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _answer(self, reply):
                if reply is None:
                    reply = {"status": 500, "body": {"error": "no reply scripted"}}
                time.sleep(reply.get("delay", 0))
                payload = reply.get("body", {})
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(reply.get("status", 200))
                for name, value in reply.get("headers", {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def script(self, *replies, default=None):
        self.replies = list(replies)
        self.default = default
        return self

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(autouse=True)
def no_proxy_for_localhost(monkeypatch):
    """All traffic stays on 127.0.0.1, whatever proxy the environment names."""
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture
def server():
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


def chat_reply(text="hello"):
    return {"body": {"choices": [{"message": {"role": "assistant", "content": text}}]}}


def make_llm(server, **params):
    defaults = {"cache": None, "verbose": 0, "retry_backoff": 0.0, "timeout": 5.0}
    base_url = params.pop("base_url", server.url)
    return OpenAICompatibleLLM(base_url, "test-model", **{**defaults, **params})


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ----------------------------------------------------------------- generation
def test_generate_sends_a_chat_request_and_reads_the_answer(server):
    server.script(chat_reply("a heist film"))
    llm = make_llm(server, system_prompt="Be brief.", max_tokens=7, seed=3)
    assert llm.generate(["Describe Heat"]) == ["a heist film"]
    path, headers, body = server.requests[0]
    assert path == "/v1/chat/completions"
    assert body["model"] == "test-model"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Describe Heat"},
    ]
    assert (body["max_tokens"], body["temperature"], body["seed"]) == (7, 0.0, 3)
    assert "Authorization" not in headers


def test_completions_endpoint_applies_the_template_and_extra_body(server):
    server.script({"body": {"choices": [{"text": " done"}]}})
    llm = make_llm(
        server,
        endpoint="completions",
        completion_template="<s>[INST] {prompt} [/INST]",
        extra_body={"top_k": 5},
    )
    assert llm.generate(["go"]) == [" done"]
    path, _, body = server.requests[0]
    assert path == "/v1/completions"
    assert body["prompt"] == "<s>[INST] go [/INST]"
    assert body["top_k"] == 5


def test_cached_answers_send_no_request(server, tmp_path):
    server.script(default=lambda body: chat_reply(body["messages"][-1]["content"].upper()))
    llm = make_llm(server, cache=tmp_path / "cache")
    assert llm.generate(["a", "b", "a"]) == ["A", "B", "A"]
    assert len(server.requests) == 2
    again = make_llm(server, cache=tmp_path / "cache", base_url=server.url + "/")
    assert again.generate(["b", "a"]) == ["B", "A"]
    assert len(server.requests) == 2
    assert again.stats()["cache_hits"] == 2
    make_llm(server, cache=tmp_path / "cache", model_version="v2").generate(["a"])
    assert len(server.requests) == 3  # another model_version is another identity


def test_requests_run_concurrently_within_the_bound(server):
    server.script(default={"delay": 0.2, **chat_reply("ok")})
    llm = make_llm(server, max_concurrency=3)
    start = time.perf_counter()
    assert llm.generate([f"prompt {i}" for i in range(9)]) == ["ok"] * 9
    elapsed = time.perf_counter() - start
    assert server.most_in_flight == 3
    assert elapsed < 9 * 0.2 * 0.7  # sequential requests would take 1.8 s
    server.most_in_flight = 0
    make_llm(server, max_concurrency=1).generate(["x", "y", "z"])
    assert server.most_in_flight == 1


# --------------------------------------------------------------------- faults
def test_5xx_is_retried_then_succeeds(server):
    server.script({"status": 500, "body": {"error": "overloaded"}}, {"status": 503}, chat_reply())
    llm = make_llm(server, max_retries=2)
    assert llm.generate(["hi"]) == ["hello"]
    assert len(server.requests) == 3
    stats = llm.stats()
    assert (stats["calls"], stats["retries"], stats["failures"]) == (3, 2, 0)


def test_429_waits_as_retry_after_says(server):
    server.script({"status": 429, "headers": {"Retry-After": "1"}}, chat_reply())
    llm = make_llm(server, max_retries=1)
    start = time.perf_counter()
    assert llm.generate(["hi"]) == ["hello"]
    assert 0.9 <= time.perf_counter() - start < 5
    assert len(server.requests) == 2


def test_retry_after_accepts_an_http_date():
    assert openai_module._retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert openai_module._retry_after("2.5") == 2.5
    assert openai_module._retry_after("soon") is None


def test_backoff_doubles_with_jitter(server):
    llm = make_llm(server, retry_backoff=1.0)
    waits = [llm._wait_before_retry(attempt, None) for attempt in range(3)]
    for attempt, wait in enumerate(waits):
        assert 0.5 * 2**attempt <= wait <= 2**attempt
    assert llm._wait_before_retry(30, None) <= 60
    assert llm._wait_before_retry(0, 7.0) == 7.0


def test_5xx_after_the_last_retry_raises_naming_the_endpoint(server):
    server.script(default={"status": 502, "body": b"<html>Bad Gateway</html>"})
    llm = make_llm(server, max_retries=2)
    with pytest.raises(LLMCallError, match="after 3 attempt") as caught:
        llm.generate(["hi"])
    message = str(caught.value)
    assert f"POST {server.url}/chat/completions answered HTTP 502" in message
    assert "Bad Gateway" in message
    assert isinstance(caught.value.__cause__, ServerReplyError)
    assert len(server.requests) == 3


def test_400_fails_at_once_with_the_body_and_is_not_retried(server):
    server.script(default={"status": 400, "body": {"error": {"message": "prompt too long"}}})
    llm = make_llm(server, max_retries=3)
    with pytest.raises(LLMCallError, match="HTTP 400.*prompt too long"):
        llm.generate(["hi"])
    assert len(server.requests) == 1


def test_404_hints_at_base_url(server):
    server.script({"status": 404, "body": {"detail": "Not Found"}})
    with pytest.raises(LLMCallError, match="usually ends in /v1"):
        make_llm(server).generate(["hi"])


def test_on_error_skip_records_the_input_as_missing(server):
    server.script(chat_reply("one"), {"status": 400, "body": {"error": "bad"}}, chat_reply("three"))
    llm = make_llm(server, on_error="skip", max_concurrency=1)
    assert llm.generate(["a", "b", "c"]) == ["one", None, "three"]
    stats = llm.stats()
    assert stats["failures"] == 1
    assert "HTTP 400" in stats["recent_errors"][0] and "'b'" in stats["recent_errors"][0]


def test_on_error_raise_keeps_the_answers_received(server, tmp_path):
    server.script(chat_reply("one"), {"status": 400, "body": {"error": "bad"}}, chat_reply("three"))
    llm = make_llm(server, max_concurrency=1, cache=tmp_path)
    with pytest.raises(LLMCallError, match="'b'"):
        llm.generate(["a", "b", "c"])
    assert len(server.requests) == 3  # the chunk is not sent a second time
    server.script(default=chat_reply("two"))
    assert llm.generate(["a", "b", "c"]) == ["one", "two", "three"]
    assert len(server.requests) == 4


def test_garbage_json_is_a_clear_error(server):
    server.script(default={"body": b"<<not json at all>>"})
    with pytest.raises(LLMCallError, match="not JSON.*not json at all"):
        make_llm(server).generate(["hi"])
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "body, missing",
    [
        ({"choices": []}, r"choices\[0\]"),
        ({"choices": [{"message": {"role": "assistant"}}]}, "message.content"),
        ({"error": "nothing"}, r"choices\[0\]"),
        ([1, 2], "not an object"),
    ],
)
def test_missing_fields_are_clear_errors(server, body, missing):
    server.script(default={"body": body})
    with pytest.raises(LLMCallError, match=missing):
        make_llm(server).generate(["hi"])


def test_timeouts_are_retried_then_reported(server):
    server.script(default={"delay": 2.0, **chat_reply()})
    llm = make_llm(server, timeout=0.2, max_retries=1)
    start = time.perf_counter()
    with pytest.raises(LLMCallError, match="timed out.*timeout=0.2"):
        llm.generate(["hi"])
    assert time.perf_counter() - start < 1.5
    assert llm.stats()["retries"] == 1


def test_a_refused_connection_is_retried_then_reported():
    llm = OpenAICompatibleLLM(
        f"http://127.0.0.1:{closed_port()}/v1",
        "m",
        max_retries=2,
        retry_backoff=0.01,
        cache=None,
        verbose=0,
    )
    with pytest.raises(LLMCallError, match="could not connect.*server is running"):
        llm.generate(["hi"])
    assert (llm.stats()["calls"], llm.stats()["retries"]) == (3, 2)


# -------------------------------------------------------------------- API key
def test_api_key_is_sent_but_never_shown_pickled_or_cached(server, tmp_path):
    secret = "sk-test-0123456789"
    server.script(default={"status": 400, "body": {"error": f"bad key {secret}"}})
    llm = make_llm(server, api_key=APIKey(secret), cache=tmp_path)
    with pytest.raises(LLMCallError) as caught:
        llm.generate(["hi"])
    assert server.requests[0][1]["Authorization"] == f"Bearer {secret}"
    assert secret not in str(caught.value)  # a server echoing the key is redacted
    assert secret not in repr(llm) and secret not in repr(llm.get_params())
    assert secret.encode() not in pickle.dumps(llm)
    assert secret not in json.dumps(llm.identity())
    assert clone(llm).api_key is llm.api_key
    server.script(default=chat_reply())
    llm.generate(["hello"])
    assert secret.encode() not in (tmp_path / "llm_cache.sqlite3").read_bytes()


def test_an_unpickled_key_is_empty_and_says_so(server):
    llm = pickle.loads(pickle.dumps(make_llm(server, api_key=APIKey("sk-x"))))
    assert llm.api_key.is_empty()
    with pytest.raises(ValueError, match="keys are dropped when pickled"):
        llm.generate(["hi"])
    assert server.requests == []


def test_api_key_from_the_named_environment_variable(server, monkeypatch):
    monkeypatch.setenv("MY_SERVER_KEY", "env-secret")
    server.script(default=chat_reply())
    make_llm(server, api_key_env="MY_SERVER_KEY").generate(["hi"])
    assert server.requests[0][1]["Authorization"] == "Bearer env-secret"
    make_llm(server, api_key_env=None).generate(["other"])
    assert "Authorization" not in server.requests[1][1]


def test_a_plain_string_key_is_refused(server):
    with pytest.raises(TypeError, match="api_key=APIKey"):
        make_llm(server, api_key="sk-plain").generate(["hi"])


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize(
    "params, message",
    [
        ({"base_url": "localhost:8000/v1"}, "http:// or https://"),
        ({"model": ""}, "non-empty model name"),
        ({"endpoint": "responses"}, "endpoint must be one of"),
        ({"scoring": "grammar"}, "scoring must be one of"),
        ({"max_concurrency": 0}, "max_concurrency must be a positive integer"),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"top_logprobs": 50}, "at most 20"),
        ({"completion_template": "no field"}, "no {prompt} field"),
        ({"completion_template": "{prompt} {other}"}, "only field is {prompt}"),
        ({"extra_body": {"x": object()}}, "JSON-serialisable"),
        ({"on_error": "ignore"}, "on_error must be one of"),
    ],
)
def test_bad_parameters_are_named(server, params, message):
    llm = make_llm(server).set_params(**params)
    with pytest.raises((ValueError, TypeError), match=message):
        llm.generate(["hi"])
    assert server.requests == []


def test_parameters_clone_and_identity(server):
    llm = make_llm(server, temperature=0.7, model_version="abc")
    twin = clone(llm)
    assert twin.get_params() == llm.get_params()
    assert llm.identity()["model"] == {"model": "test-model", "model_version": "abc"}
    moved = clone(llm).set_params(base_url="http://10.0.0.1:9000/v1", max_concurrency=16)
    assert moved.identity() == llm.identity()  # where it runs is not what it answers
    assert llm.identity("generate") != clone(llm).set_params(temperature=0).identity("generate")
    assert llm.identity("embed") == clone(llm).set_params(temperature=0).identity("embed")


# ---------------------------------------------------------------------- scores
def echo_reply(prompt_tokens, option_tokens, generated=(" .", -0.5), bos=None):
    """A vLLM-shaped echo reply: prompt and option tokens, then the generated token."""
    pairs = prompt_tokens + option_tokens
    tokens, values = [t for t, _ in pairs], [v for _, v in pairs]
    if bos:
        tokens, values = [bos, *tokens], [None, *values]
    else:
        values[0] = None
    if generated is not None:
        tokens.append(generated[0])
        values.append(generated[1])
    text = "".join(t for t, _ in prompt_tokens + option_tokens)
    text += generated[0] if generated is not None else ""
    return {
        "body": {
            "choices": [
                {
                    "text": text,
                    "logprobs": {
                        "tokens": tokens,
                        "token_logprobs": values,
                        "text_offset": list(range(len(tokens))),
                        "top_logprobs": [None] * len(tokens),
                    },
                }
            ]
        }
    }


def by_option(replies):
    """Answer each echo request with the reply of the option it ends with."""

    def answer(body):
        for option, reply in replies.items():
            if body["prompt"].endswith(option):
                return reply
        raise AssertionError(body)

    return answer


PROMPT = [("Pick", -1.0), (":", -2.0)]


def test_echo_scores_sum_the_option_tokens(server):
    server.script(
        default=by_option(
            {
                " Heat": echo_reply(PROMPT, [(" He", -0.5), ("at", -0.25)]),
                " Up": echo_reply(PROMPT, [(" Up", -3.0)], bos="<s>"),
            }
        )
    )
    llm = make_llm(server)
    np.testing.assert_allclose(llm.score_options("Pick:", [" Heat", " Up"]), [-0.75, -3.0])
    for path, _, body in server.requests:
        assert path == "/v1/completions"
        assert (body["echo"], body["logprobs"], body["max_tokens"]) == (True, 1, 1)


def test_echo_counts_a_token_across_the_prompt_boundary(server):
    # "Pick:" + " Heat" tokenised as "Pick", ": He", "at": the straddling token counts
    server.script(default=echo_reply([("Pick", -1.0)], [(": He", -0.5), ("at", -0.25)]))
    assert make_llm(server).score_options("Pick", [": Heat"])[0] == pytest.approx(-0.75)


def test_choose_uses_the_mean_token_logprob_and_ignores_order(server):
    replies = {
        " The Usual Suspects": echo_reply(
            PROMPT, [(" The", -1.0), (" Usual", -0.2), (" Suspects", -0.1)]
        ),  # sum -1.3, mean -0.43
        " Up": echo_reply(PROMPT, [(" Up", -1.2)]),  # sum -1.2, mean -1.2
    }
    server.script(default=by_option(replies))
    llm = make_llm(server)
    scores = llm.score_options("Pick:", list(replies))
    assert scores[1] > scores[0]  # the sum prefers the short option
    for options in (list(replies), list(reversed(replies))):
        assert llm.choose("Pick:", options) == " The Usual Suspects"


def test_a_server_without_echo_is_told_to_use_first_token(server):
    server.script(
        default={
            "body": {
                "choices": [
                    {"text": " x", "logprobs": {"tokens": [" x"], "token_logprobs": [-0.1]}}
                ]
            }
        }
    )
    with pytest.raises(LLMCallError, match="did not echo the prompt.*scoring='first_token'"):
        make_llm(server).score_options("Pick:", [" Heat"])
    server.script(default={"body": {"choices": [{"text": "Pick: Heat .", "logprobs": None}]}})
    with pytest.raises(LLMCallError, match="no choices.0..logprobs.*first_token"):
        make_llm(server).score_options("Pick:", [" Heat"])


def test_shifted_echo_logprobs_are_refused(server):
    server.script(default=echo_reply(PROMPT, [(" Heat", -0.5)], generated=None))
    server.default["body"]["choices"][0]["text"] += " ."  # generated, but not in the tokens
    with pytest.raises(LLMCallError, match="BOS token"):
        make_llm(server).score_options("Pick:", [" Heat"])


def first_token_reply(pairs):
    top = [{"token": token, "logprob": value} for token, value in pairs]
    return {
        "body": {
            "choices": [
                {
                    "message": {"content": pairs[0][0]},
                    "logprobs": {
                        "content": [
                            {"token": pairs[0][0], "logprob": pairs[0][1], "top_logprobs": top}
                        ]
                    },
                }
            ]
        }
    }


def test_first_token_scores_and_choice(server):
    pairs = [("He", -0.5), (" Heat", -1.5), ("Up", -2.0), ("The", -3.0)]
    server.script(default=first_token_reply(pairs))
    llm = make_llm(server, scoring="first_token", top_logprobs=4)
    scores = llm.score_options("Which film?", ["Heat", "Up", "Alien"])
    np.testing.assert_allclose(scores[:2], [np.logaddexp(-0.5, -1.5), -2.0])
    assert scores[2] == -np.inf
    _, _, body = server.requests[0]
    assert (body["logprobs"], body["top_logprobs"], body["max_tokens"]) == (True, 4, 1)
    assert llm.choose("Which film?", ["Up", "Heat"]) == "Heat"
    assert llm.choose("Which film?", ["The Thing", "The Fly"]) == "The Fly"  # a tie: A-Z
    assert llm.choose("Which film?", ["The Fly", "The Thing"]) == "The Fly"
    with pytest.raises(LLMCallError, match="none of the options begins"):
        llm.choose("Which film?", ["Alien", "Brazil"])
    assert llm.score_options("Which film?", ["heat", "up"]).tolist() == scores[:2].tolist()


def test_a_server_without_logprobs_is_a_clear_error(server):
    server.script(default=chat_reply("Heat"))
    with pytest.raises(LLMCallError, match="no log-probabilities at all"):
        make_llm(server, scoring="first_token").choose("Which film?", ["Heat", "Up"])


# ------------------------------------------------------------------ embeddings
def embedding_reply(body):
    data = [
        {"index": i, "embedding": [float(len(text)), 1.0, 0.0]}
        for i, text in enumerate(body["input"])
    ]
    return {"body": {"data": list(reversed(data)), "model": body["model"]}}


def test_embed_batches_orders_normalises_and_skips_empty_texts(server):
    server.script(default=embedding_reply)
    llm = make_llm(server, embedding_model="embedder", batch_size=2, dimensions=3)
    texts = ["a", "bbb", "", "cc", "d"]
    vectors = llm.embed(texts)
    assert vectors.shape == (5, 3) and vectors.dtype == np.float32
    assert [len(body["input"]) for _, _, body in server.requests] == [2, 2]
    assert all(
        body["model"] == "embedder" and body["dimensions"] == 3 for _, _, body in server.requests
    )
    expected = np.array([[len(t), 1, 0] for t in texts], dtype=np.float32)
    expected /= np.maximum(np.linalg.norm(expected, axis=1, keepdims=True), 1e-12)
    expected[2] = 0
    np.testing.assert_allclose(vectors, expected, rtol=1e-6)


def test_embed_finds_the_text_a_server_refuses(server):
    def refuse_poison(body):
        if any("poison" in text for text in body["input"]):
            return {"status": 400, "body": {"error": "input too long"}}
        return embedding_reply(body)

    server.script(default=refuse_poison)
    llm = make_llm(server, batch_size=4, on_error="skip")
    vectors = llm.embed(["ok", "poison", "fine"])
    assert np.isnan(vectors[1]).all() and np.isfinite(vectors[[0, 2]]).all()
    assert llm.stats()["failures"] == 1
    assert [len(body["input"]) for _, _, body in server.requests] == [3, 1, 1, 1]


def test_embedding_size_of_no_text_comes_from_one_probe(server):
    server.script(default=embedding_reply)
    llm = make_llm(server)
    assert llm.embed([]).shape == (0, 3)
    assert llm.embed([""]).shape == (1, 3)
    assert len(server.requests) == 1  # the size is known after the first reply
    assert make_llm(server, dimensions=8).embed([]).shape == (0, 8)
    assert len(server.requests) == 1


def test_per_token_embeddings_are_a_clear_error(server):
    server.script(default={"body": {"data": [{"index": 0, "embedding": [[0.1, 0.2], [0.3, 0.4]]}]}})
    with pytest.raises(LLMCallError, match="not a flat list of numbers.*pooling"):
        make_llm(server).embed(["a"])


def test_embedding_count_mismatch_is_a_clear_error(server):
    server.script(default={"body": {"data": []}})
    with pytest.raises(LLMCallError, match="list of 1 embeddings"):
        make_llm(server).embed(["a"])


# ------------------------------------------------------------------- doctests
def test_docstring_examples():
    failures, _ = doctest.testmod(openai_module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert failures == 0
