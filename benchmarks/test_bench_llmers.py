"""Checks of bench_llmers.py: an interrupted run resumes from its finished cells.

Not collected by the default test run (``testpaths`` is tests/ and skllmers/); run by
hand::

    .venv/bin/python -m pytest benchmarks/test_bench_llmers.py

A hashing encoder stands in for all-MiniLM-L6-v2, so no model is loaded.
"""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import _protocol  # noqa: E402
import bench_llmers  # noqa: E402

from skllmers.llm.testing import HashingEncoder  # noqa: E402


def test_cell_log_ignores_a_line_cut_by_an_interruption(tmp_path):
    path = tmp_path / "cells.jsonl"
    _protocol.CellLog(path).add({"key": "a", "value": 1})
    with path.open("a") as handle:
        handle.write('{"key": "b", "val')  # killed while writing
    log = _protocol.CellLog(path)
    assert "a" in log and "b" not in log
    log.add({"key": "c"})
    assert set(_protocol.CellLog(path).records) == {"a", "c"}


@pytest.mark.slow
def test_an_interrupted_run_resumes_from_its_finished_cells(tmp_path, monkeypatch):
    monkeypatch.setattr("skllmers.llm.SentenceEncoder",
                        lambda **kwargs: HashingEncoder(embed_dim=64))
    argv = ["--datasets", "text_signal", "--seeds", "2",
            "--models", "Popularity", "BPR", "--enhancers", "none", "init", "best",
            "--quick", "--out", str(tmp_path)]
    evaluated = []
    real = bench_llmers.per_user_quality

    def interrupted(model, test):
        if len(evaluated) == 4:
            raise KeyboardInterrupt  # as Ctrl-C in the fifth cell
        evaluated.append(1)
        return real(model, test)

    monkeypatch.setattr(bench_llmers, "per_user_quality", interrupted)
    with pytest.raises(KeyboardInterrupt):
        bench_llmers.main(argv)
    lines = (tmp_path / "cells.jsonl").read_text().splitlines()
    assert sum(json.loads(line)["type"] == "cell" for line in lines) == 4

    counted = []

    def counting(model, test):
        counted.append(1)
        return real(model, test)

    monkeypatch.setattr(bench_llmers, "per_user_quality", counting)
    bench_llmers.main(argv)
    records = [json.loads(line) for line in (tmp_path / "cells.jsonl").read_text().splitlines()]
    cells = [r for r in records if r["type"] == "cell"]
    assert len({r["key"] for r in cells}) == len(cells)  # nothing ran twice
    assert len(counted) == len(cells) - 4
    # Popularity: none; BPR: none, init; "best" reuses one of them or adds one stack.
    tests = [r for r in cells if r["split"] == "test"]
    assert {(r["model"], r["label"]) for r in tests} >= {
        ("Popularity", "none"), ("BPR", "none"), ("BPR", "init")}
    assert {r["seed"] for r in tests} == {0, 1}

    counted.clear()
    bench_llmers.main(argv)  # a third run fits nothing
    assert counted == []

    result = json.loads((tmp_path / "results.json").read_text())
    assert result["missing_cells"] == []
    rows = {(r["model"], r["enhancer"]) for r in result["summary"]}
    assert {("Popularity", "none"), ("BPR", "init"), ("BPR", "best")} <= rows
    assert any(s.get("model") == "Popularity" and s["enhancer"] == "init"
               for s in result["skipped"])
    for name in ("results.md", "lift.png", "cost.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "n/a" in (tmp_path / "results.md").read_text()


def test_a_movielens_variant_not_downloaded_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("SKLLMERS_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr("skllmers.llm.SentenceEncoder",
                        lambda **kwargs: HashingEncoder(embed_dim=64))
    bench_llmers.main(["--datasets", "ml-100k", "--seeds", "1", "--models", "Popularity",
                       "--out", str(tmp_path / "out")])
    result = json.loads((tmp_path / "out" / "results.json").read_text())
    assert result["summary"] == []
    assert [s["dataset"] for s in result["skipped"]] == ["ml-100k"]
    assert "not downloaded" in result["skipped"][0]["reason"]
