"""Checks of bench_llmers.py: tuning on validation, Holm, shuffled controls, regimes, goals,
and that an interrupted run resumes from its finished cells.

Not collected by the default test run (``testpaths`` is tests/ and skllmers/); run by
hand::

    .venv/bin/python -m pytest benchmarks/test_bench_llmers.py

A hashing encoder stands in for all-MiniLM-L6-v2, so no model is loaded; the runs use
make_text_signal and the cheap models (a few seconds each).
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import _llmers_grid  # noqa: E402
import _llmers_report  # noqa: E402
import _protocol  # noqa: E402
import bench_llmers  # noqa: E402

from skllmers.datasets import make_text_signal  # noqa: E402
from skllmers.llm.testing import HashingEncoder  # noqa: E402

ARGV = ["--datasets", "text_signal", "--seeds", "2", "--models", "Popularity", "EASE",
        "--enhancers", "none", "augment", "semantic", "fusion", "best"]


@pytest.fixture
def hashing_encoder(monkeypatch):
    monkeypatch.setattr("skllmers.llm.SentenceEncoder",
                        lambda **kwargs: HashingEncoder(embed_dim=64))


def _records(out):
    return [json.loads(line) for line in (out / "cells.jsonl").read_text().splitlines()]


def test_holm_matches_the_step_down_rule():
    adjusted = _protocol.holm([0.01, 0.04, 0.03, np.nan, 0.5])
    # sorted: 0.01*4, 0.03*3, 0.04*2 -> monotone, 0.5*1 -> max with running
    np.testing.assert_allclose(adjusted[[0, 1, 2, 4]], [0.04, 0.09, 0.09, 0.5])
    assert np.isnan(adjusted[3])


def test_shuffle_item_texts_moves_texts_across_items_only():
    data = make_text_signal(random_state=0)
    shuffled = _protocol.shuffle_item_texts(data, ["title", "description"], seed=1)
    assert shuffled.items.index.equals(data.items.index)
    assert (shuffled.user_codes == data.user_codes).all()
    before, after = data.items["description"], shuffled.items["description"]
    assert sorted(before) == sorted(after)  # the same texts ...
    assert (before.to_numpy() != after.to_numpy()).mean() > 0.9  # ... on other items
    # an item keeps title and description together
    pairs = set(zip(data.items["title"], data.items["description"], strict=True))
    assert set(zip(shuffled.items["title"], after, strict=True)) == pairs
    assert data.items["description"].equals(before)  # the input is unchanged


def test_make_pipeline_applies_enhancer_and_model_overrides():
    spec = _llmers_grid.DATASETS["text_signal"]
    encoder = HashingEncoder(embed_dim=16)
    config = {"base": {"l2": 50.0},
              "enhancers": {"semantic": {"model__beta": 100.0, "model__semantic_l2": 3.0},
                            "fusion": {"fusion__alpha": 0.3}}}
    pipeline = _llmers_grid.make_pipeline("EASE", config, spec, 0, threads=1,
                                          encoder=encoder, llm=None)
    assert [name for name, _ in pipeline.steps] == ["text", "model"]
    fused = pipeline.steps[-1][1]
    assert fused.alpha == 0.3
    assert fused.base.get_params()["l2"] == 50.0
    assert fused.base.get_params()["beta"] == 100.0
    augmented = _llmers_grid.make_pipeline(
        "ALS", {"enhancers": {"augment": {"augment__strategy__n_positive": 3}}}, spec, 0,
        threads=1, encoder=encoder, llm=None)
    assert augmented.get_params()["augment__strategy__n_positive"] == 3


def test_a_run_tunes_on_validation_controls_and_reports_goals(tmp_path, hashing_encoder):
    out = tmp_path / "out"
    bench_llmers.main([*ARGV, "--out", str(out)])
    records = _records(out)
    cells = [r for r in records if r.get("type") == "cell"]
    splits = {(r["seed"], r["split"]): r for r in records if r.get("type") == "split"}
    # validation = the first seed's training rows split again: smaller than test's train
    assert splits[0, "validation"]["n_train_rows"] < splits[0, "test"]["n_train_rows"]
    assert {c["seed"] for c in cells if c["split"] == "validation"} == {0}
    result = json.loads((out / "results.json").read_text())

    # the tuned base is the grid point with the best validation NDCG@10
    ease = next(s for s in result["selections"] if s["model"] == "EASE")
    best = max(ease["base_grid"], key=lambda g: g["validation_ndcg@10"])
    assert ease["base"] == best["params"]
    assert len(ease["base_grid"]) == len(_llmers_grid.model_grid(
        "EASE", _llmers_grid.DATASETS["text_signal"]))
    test_none = [c for c in cells if c["split"] == "test" and c["model"] == "EASE"
                 and c["label"] == "none"]
    assert {c["params"]["steps"][-1][1]["params"]["l2"] for c in test_none} == \
        {best["params"]["l2"]}
    # fusion: every alpha scored from one fit, the chosen one the best
    fusion = ease["enhancers"]["fusion"]
    assert len(fusion["grid"]) == len(_llmers_grid.FUSION_ALPHAS)
    assert fusion["chosen"] == max(fusion["grid"], key=lambda g: g["validation_ndcg@10"])[
        "params"]

    # every text pipeline on test has a shuffled control, on every seed; none for bases
    tests = [c for c in cells if c["split"] == "test"]
    text = {(c["model"], c["label"], c["seed"]) for c in tests
            if c["label"] != "none" and not c["control"]}
    shuffled = {(c["model"], c["label"], c["seed"]) for c in tests
                if c["control"] == "shuffled"}
    assert text and text == shuffled
    # cold regime: only pipelines that can score a cold item, plus the floors
    cold = {(c["model"], c["label"]) for c in cells if c["split"] == "cold"}
    assert ("text-kNN", "none") in cold and ("random", "none") in cold
    assert all(label == "none" or _llmers_grid.reads_cold(label.split("+"))
               for _, label in cold)
    assert ("EASE", "semantic") in cold and ("EASE", "augment") not in cold

    # tests: Holm over the data set's family; both baselines where they differ
    frame = pd.DataFrame(result["tests"])
    assert frame["holm_family"].nunique() == 1
    assert (frame["p_holm"] >= frame["p"] - 1e-12).all()
    assert set(frame["regime"]) == {"all users", "long-tail users", "long-tail items",
                                    "cold items"}
    assert {"own base", "best plain", "shuffled control", "text-kNN"} <= set(
        frame["against"])
    goal = result["goals"]["text_signal"]
    assert goal["best_plain"] == result["choices"]["text_signal"]["best_plain"]
    assert isinstance(goal["met"], bool) and goal["ratio"] > 0
    text_md = (out / "results.md").read_text()
    assert "Goal 1" in text_md and ("**met**" in text_md or "**not met**" in text_md)
    for name in ("results.rst", "lift.png"):
        assert (out / name).stat().st_size > 0

    # --report-only runs nothing and rebuilds the same goals
    before = (out / "cells.jsonl").read_text()
    bench_llmers.main([*ARGV, "--out", str(out), "--report-only"])
    assert (out / "cells.jsonl").read_text() == before
    again = json.loads((out / "results.json").read_text())
    assert again["goals"] == result["goals"] and again["missing_cells"] == []


def test_goals_read_holm_p_and_the_chosen_stacks():
    groups = {("d", "test", "EASE", "best", None): [{"label": "fusion"}],
              ("d", "test", "EASE", "fusion", None): [{"label": "fusion"}]}
    choices = {"d": {"best_plain": "ALS", "best_pipeline": {"model": "EASE", "row": "fusion"}}}

    def tests(ratio, p_holm, own_ratio=1.01, own_p=0.5):
        return pd.DataFrame([
            {"dataset": "d", "regime": "all users", "model": "EASE", "pipeline": "EASE fusion",
             "against": "best plain", "ratio": ratio, "p_holm": p_holm},
            {"dataset": "d", "regime": "long-tail users", "model": "EASE",
             "pipeline": "EASE fusion", "against": "own base", "ratio": own_ratio,
             "p_holm": own_p}])

    assert _llmers_report.goals(tests(1.05, 0.01), choices, groups)["d"]["met"]
    assert not _llmers_report.goals(tests(1.05, 0.2), choices, groups)["d"]["met"]
    assert not _llmers_report.goals(tests(1.02, 0.001), choices, groups)["d"]["met"]
    goal = _llmers_report.goals(tests(1.05, 0.01, 0.9, 0.01), choices, groups)["d"]
    assert not goal["no_chosen_below_own_base"]
    assert goal["chosen_below_own_base"][0]["regime"] == "long-tail users"


def test_cell_log_ignores_a_line_cut_by_an_interruption(tmp_path):
    path = tmp_path / "cells.jsonl"
    _protocol.CellLog(path).add({"key": "a", "value": 1})
    with path.open("a") as handle:
        handle.write('{"key": "b", "val')  # killed while writing
    log = _protocol.CellLog(path)
    assert "a" in log and "b" not in log
    log.add({"key": "c"})
    assert set(_protocol.CellLog(path).records) == {"a", "c"}


def test_an_interrupted_run_resumes_from_its_finished_cells(tmp_path, monkeypatch,
                                                            hashing_encoder):
    argv = ["--datasets", "text_signal", "--seeds", "2", "--models", "Popularity", "ALS",
            "--enhancers", "none", "init", "--no-cold", "--out", str(tmp_path)]
    evaluated = []
    real = bench_llmers.per_user_quality

    def interrupted(model, test, candidates="all"):
        if len(evaluated) == 5:
            raise KeyboardInterrupt  # as Ctrl-C in the sixth cell
        evaluated.append(1)
        return real(model, test, candidates)

    monkeypatch.setattr(bench_llmers, "per_user_quality", interrupted)
    with pytest.raises(KeyboardInterrupt):
        bench_llmers.main(argv)
    assert sum(r["type"] == "cell" for r in _records(tmp_path)) == 5

    counted = []

    def counting(model, test, candidates="all"):
        counted.append(1)
        return real(model, test, candidates)

    monkeypatch.setattr(bench_llmers, "per_user_quality", counting)
    bench_llmers.main(argv)
    cells = [r for r in _records(tmp_path) if r["type"] == "cell"]
    assert len({r["key"] for r in cells}) == len(cells)  # nothing ran twice
    assert len(counted) == len(cells) - 5
    counted.clear()
    bench_llmers.main(argv)  # a third run fits nothing
    assert counted == []
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["missing_cells"] == []
    assert any(s.get("model") == "Popularity" and s["enhancer"] == "init"
               for s in result["skipped"])
    assert "n/a" in (tmp_path / "results.md").read_text()


def test_a_movielens_variant_not_downloaded_is_skipped(tmp_path, monkeypatch,
                                                       hashing_encoder):
    monkeypatch.setenv("SKLLMERS_DATA", str(tmp_path / "empty"))
    bench_llmers.main(["--datasets", "ml-100k", "--seeds", "1", "--models", "Popularity",
                       "--out", str(tmp_path / "out")])
    result = json.loads((tmp_path / "out" / "results.json").read_text())
    assert result["means"] == []
    assert [s["dataset"] for s in result["skipped"]] == ["ml-100k"]
    assert "not downloaded" in result["skipped"][0]["reason"]
