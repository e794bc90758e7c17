import copy
import multiprocessing
import pickle
import sqlite3

import numpy as np
import pytest

from skllmers.llm import LLMCache, LLMCallError, default_cache_dir
from skllmers.llm._cache import CACHE_FILE_NAME, make_key, resolve_cache
from skllmers.llm.testing import HashingEncoder, ScriptedLLM


def test_values_round_trip_with_their_types(tmp_path):
    cache = LLMCache(tmp_path)
    values = {
        "text": "une réponse ✓",
        "empty": "",
        "number": 1.5,
        "list": ["a", "b"],
        "vector": np.array([0.25, -1.0], dtype=np.float32),
        "matrix": np.arange(6, dtype=np.float64).reshape(2, 3),
        "numpy_scalar": np.float32(2.5),
    }
    cache.set_many(values)
    found = cache.get_many(list(values))
    assert found["text"] == values["text"]
    assert found["empty"] == ""
    assert found["list"] == ["a", "b"]
    assert found["numpy_scalar"] == 2.5
    for name in ("vector", "matrix"):
        assert found[name].dtype == values[name].dtype
        np.testing.assert_array_equal(found[name], values[name])


def test_stats_count_hits_misses_and_bytes(tmp_path):
    cache = LLMCache(tmp_path)
    assert cache.get("absent") is None
    cache.set("k", "abc")
    assert cache.get("k") == "abc"
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["writes"]) == (1, 1, 1)
    assert stats["bytes_written"] == stats["bytes_read"] == len(b'"abc"')
    assert stats["entries"] == 1 and stats["file_bytes"] > 0
    cache.reset_stats()
    assert cache.stats()["hits"] == 0


def test_folder_and_file_paths(tmp_path):
    assert LLMCache(tmp_path / "folder").db_path == tmp_path / "folder" / CACHE_FILE_NAME
    assert LLMCache(tmp_path / "mine.sqlite").db_path == tmp_path / "mine.sqlite"


def test_default_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SKLLMERS_CACHE_DIR", str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    assert LLMCache().db_path.parent == tmp_path / "env"
    monkeypatch.delenv("SKLLMERS_CACHE_DIR")
    assert default_cache_dir().parts[-2:] == (".cache", "skllmers")


def test_resolve_cache_parameter(tmp_path):
    assert resolve_cache(None) is None
    assert resolve_cache(False) is None
    given = LLMCache(tmp_path)
    assert resolve_cache(given) is given
    assert resolve_cache(str(tmp_path)).db_path == given.db_path
    assert isinstance(resolve_cache(True), LLMCache)
    with pytest.raises(TypeError, match="cache must be"):
        resolve_cache(3)


def test_keys_depend_on_identity_operation_and_input():
    base = make_key({"model": "a"}, "generate", {"prompt": "p"})
    assert base == make_key({"model": "a"}, "generate", {"prompt": "p"})
    assert base != make_key({"model": "b"}, "generate", {"prompt": "p"})
    assert base != make_key({"model": "a"}, "choose", {"prompt": "p"})
    assert base != make_key({"model": "a"}, "generate", {"prompt": "p "})


def _corrupt_every_value(db_path):
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE entries SET value = CAST('\"tampered\"' AS BLOB)")


def test_corrupted_entry_is_detected_and_discarded(tmp_path):
    cache = LLMCache(tmp_path)
    cache.set("k", "genuine")
    cache.close()
    _corrupt_every_value(cache.db_path)
    assert cache.get("k") is None
    assert cache.stats()["corrupted"] == 1
    assert len(cache) == 0


def test_corrupted_entry_is_recomputed_by_the_backend(tmp_path):
    calls = []

    def respond(prompt):
        calls.append(prompt)
        return prompt.upper()

    llm = ScriptedLLM(respond, cache=tmp_path)
    assert llm.generate(["abc"]) == ["ABC"]
    llm._cache().close()
    _corrupt_every_value(llm._cache().db_path)
    assert llm.generate(["abc"]) == ["ABC"]
    assert calls == ["abc", "abc"]
    assert llm.stats()["cache"]["corrupted"] == 1
    assert llm.generate(["abc"]) == ["ABC"]  # the recomputed value was stored again
    assert len(calls) == 2


def test_cache_pickles_and_copies_without_its_connection(tmp_path):
    cache = LLMCache(tmp_path)
    cache.set("k", "v")
    for other in (pickle.loads(pickle.dumps(cache)), copy.deepcopy(cache)):
        assert other._connection is None
        assert other.get("k") == "v"


def _write_many(args):
    folder, worker, count = args
    cache = LLMCache(folder)
    for index in range(count):
        cache.set_many({f"{worker}-{index}": np.full(8, worker * 1000 + index, dtype=np.float32)})
    return cache.stats()["writes"]


def test_several_processes_write_at_once(tmp_path):
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    workers, count = 4, 60
    with context.Pool(workers) as pool:
        jobs = [(str(tmp_path), worker, count) for worker in range(workers)]
        writes = pool.map_async(_write_many, jobs).get(timeout=120)
    assert writes == [count] * workers
    cache = LLMCache(tmp_path)
    assert len(cache) == workers * count
    found = cache.get_many([f"{w}-{i}" for w in range(workers) for i in range(count)])
    assert len(found) == workers * count
    assert found["3-59"][0] == 3059
    with sqlite3.connect(cache.db_path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_second_identical_run_makes_zero_backend_calls(tmp_path):
    calls = []

    def respond(prompt):
        calls.append(prompt)
        return f"answer to {prompt}"

    prompts = [f"prompt {i}" for i in range(5)]
    first = ScriptedLLM(respond, cache=tmp_path).generate(prompts)
    assert len(calls) == 5
    second_llm = ScriptedLLM(respond, cache=tmp_path)
    assert second_llm.generate(prompts) == first
    assert len(calls) == 5
    stats = second_llm.stats()
    assert stats["calls"] == 0 and stats["cache_hits"] == 5


def test_interrupted_run_resumes_where_it_stopped(tmp_path):
    calls = []

    def respond_then_crash(prompt):
        if prompt == "p3" and not calls.count("crashed"):
            calls.append("crashed")
            raise KeyboardInterrupt
        calls.append(prompt)
        return prompt * 2

    prompts = [f"p{i}" for i in range(6)]
    llm = ScriptedLLM(respond_then_crash, cache=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        llm.generate(prompts)
    assert calls == ["p0", "p1", "p2", "crashed"]
    assert ScriptedLLM(respond_then_crash, cache=tmp_path).generate(prompts) == [
        p * 2 for p in prompts
    ]
    assert calls[4:] == ["p3", "p4", "p5"]


def test_failures_are_not_cached(tmp_path):
    attempts = []

    def flaky(prompt):
        attempts.append(prompt)
        if len(attempts) <= 3:
            raise RuntimeError("backend down")
        return "ok"

    llm = ScriptedLLM(flaky, cache=tmp_path, on_error="skip", max_retries=2)
    assert llm.generate(["q"]) == [None]
    assert llm.generate(["q"]) == ["ok"]


def test_embeddings_are_cached_as_float32_arrays(tmp_path):
    encoder = HashingEncoder(embed_dim=8, cache=tmp_path)
    first = encoder.embed(["space opera", "cooking"])
    second = HashingEncoder(embed_dim=8, cache=tmp_path)
    np.testing.assert_array_equal(second.embed(["space opera", "cooking"]), first)
    assert second.stats()["calls"] == 0
    assert HashingEncoder(embed_dim=16, cache=tmp_path).embed(["cooking"]).shape == (1, 16)


def test_cache_off_recomputes_every_time(tmp_path):
    calls = []
    llm = ScriptedLLM(lambda prompt: calls.append(prompt) or "x", cache=None)
    llm.generate(["a"])
    llm.generate(["a"])
    assert calls == ["a", "a"]
    assert llm.stats()["cache"] is None


def test_skip_failure_is_reported_not_cached_and_raise_names_the_input(tmp_path):
    def broken(prompt):
        raise RuntimeError("no luck")

    with pytest.raises(LLMCallError, match="'bad input'.*no luck"):
        ScriptedLLM(broken, cache=tmp_path, max_retries=0).generate(["bad input"])
    assert len(LLMCache(tmp_path)) == 0
