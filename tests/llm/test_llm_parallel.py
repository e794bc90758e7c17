"""Chunks through joblib workers and a dask.distributed cluster, with the real tiny model."""

import warnings

import joblib
import numpy as np
import pytest

from skllmers.llm import LlamaCppLLM, PromptTruncatedWarning

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.llama

PROMPTS = [f"User {i} watched Alien and" for i in range(16)]


def make_llm(path, **params):
    return LlamaCppLLM(
        path, **{"cache": None, "verbose": 0, "max_tokens": 4, "n_threads": 1, **params}
    )


@pytest.fixture(scope="module")
def sequential_answers(tiny_model_path):
    llm = make_llm(tiny_model_path)
    return {
        "generate": llm.generate(PROMPTS),
        "choose": llm.choose_many(PROMPTS, ["Heat", "Up", "Jaws"]),
        "embed": llm.embed(PROMPTS),
    }


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_workers_load_their_own_model_and_agree(tiny_model_path, sequential_answers, backend):
    llm = make_llm(tiny_model_path, n_jobs=2, backend=backend)
    assert llm.generate(PROMPTS) == sequential_answers["generate"]
    assert llm.choose_many(PROMPTS, ["Heat", "Up", "Jaws"]) == sequential_answers["choose"]
    np.testing.assert_allclose(llm.embed(PROMPTS), sequential_answers["embed"], atol=1e-5)
    assert llm._runtime().models == {}  # the calling process never loaded the model
    # 16 prompts went in 8 chunks per operation; each worker loads once per role.
    assert llm.stats()["models_loaded"] <= 2 * 3
    assert llm.stats()["calls"] == 3 * len(PROMPTS)


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_truncation_in_workers_still_warns_the_caller_once(tiny_model_path, backend):
    llm = make_llm(tiny_model_path, n_ctx=64, max_tokens=2, n_jobs=2, backend=backend)
    prompts = [f"prompt {i}: " + "watched item " * 60 for i in range(6)] + ["short", "hi"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        texts = llm.generate(prompts)
    assert len(texts) == 8
    caught = [w for w in caught if issubclass(w.category, PromptTruncatedWarning)]
    assert len(caught) == 1
    assert "6 prompt(s) did not fit" in str(caught[0].message)
    assert llm.stats()["truncated"] == 6


def test_parallel_run_fills_the_cache(tiny_model_path, sequential_answers, tmp_path):
    make_llm(tiny_model_path, n_jobs=2, backend="threading", cache=tmp_path).generate(PROMPTS)
    again = make_llm(tiny_model_path, cache=tmp_path)
    assert again.generate(PROMPTS) == sequential_answers["generate"]
    assert again.stats()["calls"] == 0


@pytest.mark.slow
def test_dask_distributed_cluster(tiny_model_path, sequential_answers):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1,
            processes=True,
            threads_per_worker=2,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        distributed.Client(cluster),
    ):
        with joblib.parallel_config(backend="dask"):
            llm = make_llm(tiny_model_path)
            assert llm.generate(PROMPTS) == sequential_answers["generate"]
        explicit = make_llm(tiny_model_path, backend="dask", n_jobs=-1)
        np.testing.assert_allclose(explicit.embed(PROMPTS), sequential_answers["embed"], atol=1e-5)
    assert llm.stats()["calls"] == len(PROMPTS)
    assert llm._runtime().models == {}
