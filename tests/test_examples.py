"""The scripts of ``examples/`` run, in their quick settings, and print what they promise.

Each example runs in a subprocess, as a user would run it: ``python examples/X.py
--quick`` (small synthetic data, a hashing encoder or a scripted LLM, so no model is
loaded). The subprocesses use one BLAS/OpenMP thread (a busy CI machine is not slowed
down by oversubscription), a temporary skllmers cache, and never a GGUF model from the
environment. ``real_gguf_model.py`` needs a downloaded model: without one it must exit
0 with instructions; with the tiny random model of ``make_tiny_llama_gguf`` it runs
its whole llama.cpp path (output is gibberish, but every call is real).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
OWNED_ELSEWHERE = {"demo.py"}  # the main job (``make demo``), run by the lead's checks
TESTED = {
    "quickstart.py",
    "grid_search.py",
    "tabular_ctr.py",
    "explain_recommendation.py",
    "real_gguf_model.py",
}


def example_env(cache_dir, extra_env=None):
    env = {key: value for key, value in os.environ.items() if key != "SKLLMERS_GGUF"}
    env.update({
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "SKLLMERS_CACHE_DIR": str(cache_dir),
        "TQDM_DISABLE": "1",
        "PYTHONWARNINGS": "error::FutureWarning",
    })
    env.update(extra_env or {})
    return env


def run_example(name, *args, cache_dir, extra_env=None, timeout=300, check=True):
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
        env=example_env(cache_dir, extra_env), timeout=timeout, cwd=EXAMPLES.parent,
    )
    if check:
        assert result.returncode == 0, (
            f"{name} {' '.join(args)} exited with {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        )
    return result


class ExampleRun:
    """An example started in the background; ``stdout()`` waits for it and checks it."""

    def __init__(self, name, args, folder):
        folder.mkdir(parents=True)
        self.name, self.args = name, [str(arg).format(tmp=folder) for arg in args]
        self.out, self.err = folder / "stdout.txt", folder / "stderr.txt"
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, str(EXAMPLES / name), *self.args], stdout=out, stderr=err,
                env=example_env(folder / "cache"), cwd=EXAMPLES.parent,
            )

    def stdout(self, timeout=300):
        returncode = self.process.wait(timeout=timeout)
        out = self.out.read_text(encoding="utf-8")
        assert returncode == 0, (
            f"{self.name} {' '.join(self.args)} exited with {returncode}:\n{out[-3000:]}\n"
            f"{self.err.read_text(encoding='utf-8')[-5000:]}"
        )
        return out

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


#: The quick runs, started together when the first test needs one (one thread each, so
#: they share the cores without oversubscribing them).
QUICK_RUNS = {
    "quickstart": ("quickstart.py", "--quick"),
    "grid_search": ("grid_search.py", "--quick", "--cache-dir", "{tmp}/grid-cache"),
    "tabular_ctr": ("tabular_ctr.py", "--quick"),
    "explain_recommendation": ("explain_recommendation.py", "--quick", "--user", "7"),
}


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples")
    runs = {key: ExampleRun(script, args, root / key)
            for key, (script, *args) in QUICK_RUNS.items()}
    yield runs
    for run in runs.values():
        run.stop()


def test_every_example_is_documented_and_tested():
    scripts = {path.name for path in EXAMPLES.glob("*.py")} - OWNED_ELSEWHERE
    assert scripts == TESTED, "add a test for each new example (and list it in TESTED)"
    for name in sorted(scripts):
        source = (EXAMPLES / name).read_text(encoding="utf-8")
        module = ast.parse(source)
        docstring = ast.get_docstring(module)
        assert docstring and "Run::" in docstring, f"{name}: a docstring header says how to run it"
        assert 'if __name__ == "__main__":' in source, name
        assert "--quick" in source, f"{name}: a --quick option keeps CI fast"


def test_quickstart(quick_runs):
    out = quick_runs["quickstart"].stdout()
    assert "LLM init + BPR" in out and "ndcg@10" in out
    assert re.search(r"paired test over \d+ users", out)
    top = out.split("top 5 for user")[1].strip().splitlines()
    assert len(top) == 1 + 1 + 5  # user id line, header, five items
    ndcgs = [float(line.split()[-4]) for line in out.splitlines()
             if line.startswith(("BPR ", "LLM init + BPR "))]
    assert len(ndcgs) == 2 and all(0 < value <= 1 for value in ndcgs)


def test_grid_search_second_candidate_is_free(quick_runs):
    out = quick_runs["grid_search"].stdout()
    lines = out.split("candidates, in the order they were fitted:")[1].strip().splitlines()
    assert lines[0].split() == ["mode", "weight", "ndcg@10", "encoder", "calls", "cache",
                                "hits", "fit", "s"]
    rows = [line.split() for line in lines[1:5]]
    assert [row[0] for row in rows] == ["init", "frozen", "init", "frozen"]
    calls = [int(row[3]) for row in rows]
    hits = [int(row[4]) for row in rows]
    assert calls[0] > 0 and calls[1:] == [0, 0, 0], out
    assert hits[1:] == [calls[0] + hits[0]] * 3, out  # same texts, all from the cache
    assert re.search(r"cache \d+\.\d MB at .*: \d+ entries", out)
    assert re.search(r"test NDCG@10 of the refitted best pipeline: 0\.\d+", out)


def test_tabular_ctr(quick_runs):
    out = quick_runs["tabular_ctr"].stdout()
    aucs = {name: float(value) for name, value in
            re.findall(r"^(counts only|counts \+ text features)\s+test ROC AUC (\S+)$", out,
                       flags=re.MULTILINE)}
    assert set(aucs) == {"counts only", "counts + text features"}
    assert all(0.5 < auc <= 1 for auc in aucs.values())
    # The synthetic item texts name the topics users prefer: the text features help.
    assert aucs["counts + text features"] > aucs["counts only"]
    assert "encoder-only mode" in out


def test_explain_recommendation(quick_runs):
    out = quick_runs["explain_recommendation"].stdout()
    assert "TEMPLATE TEXT" in out and "ScriptedLLM" in out  # says it is no real LLM
    assert re.search(r"recommended to user 7: .+ \(item \d+, score", out)
    assert "user's taste:" in out and "item summary:" in out
    assert "This user mostly chooses" in out  # the scripted taste summary
    nearest = out.split("nearest items in feature space")[1].splitlines()[1:6]
    assert len(nearest) == 5 and all(re.match(r"^  [* ] -?\d\.\d{3}  \S", n) for n in nearest)


def test_real_gguf_model_without_a_model_explains_and_exits_0(tmp_path):
    result = run_example("real_gguf_model.py", cache_dir=tmp_path)
    assert "No GGUF model given" in result.stdout
    assert "SKLLMERS_GGUF" in result.stdout and "--repo-id" in result.stdout
    assert "Skipping" in result.stdout


def test_real_gguf_model_with_a_missing_file_is_an_error(tmp_path):
    result = run_example("real_gguf_model.py", cache_dir=tmp_path, check=False,
                         extra_env={"SKLLMERS_GGUF": str(tmp_path / "missing.gguf")})
    assert result.returncode == 2
    assert "no such GGUF file" in result.stderr


@pytest.mark.llama
def test_real_gguf_model_runs_with_a_tiny_model(tmp_path):
    from skllmers.llm import CHATML_TEMPLATE, make_tiny_llama_gguf

    model = make_tiny_llama_gguf(tmp_path / "tiny.gguf", chat_template=CHATML_TEMPLATE)
    out = run_example("real_gguf_model.py", str(model), "--quick", "--threads", "1",
                      "--max-tokens", "8", cache_dir=tmp_path / "cache").stdout
    assert "GPU offload:" in out
    assert re.search(r"the LLM picked [1-9]\d* extra interactions", out)
    assert re.search(r"featurizer: [1-9]\d* LLM requests", out)
    assert "LLM augmenter + summaries + LightFM" in out
