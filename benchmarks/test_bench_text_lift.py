"""Checks of the LLM-against-template readings: bench_text_lift.py's summary text,
bench_sasrec_text.py's summary family and bench_cold_items.py's twin rows.

Not collected by the default test run (``testpaths`` is tests/ and skllmers/); run by
hand::

    .venv/bin/python -m pytest benchmarks/test_bench_text_lift.py
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import bench_cold_items  # noqa: E402
import bench_sasrec_text  # noqa: E402
import bench_text_lift  # noqa: E402

from skllmers.llm.testing import HashingEncoder  # noqa: E402


def _write_summaries(path, summaries: dict):
    path.write_text("".join(json.dumps({"item_id": item, "summary": text}) + "\n"
                            for item, text in summaries.items()))


def test_summaries_come_in_the_order_of_the_item_ids(tmp_path):
    path = tmp_path / "summaries.jsonl"
    _write_summaries(path, {3: "three", 1: "one", 2: "two"})
    ids = pd.Index([1, 2, 3])
    assert bench_text_lift.read_summaries(path, ids) == ["one", "two", "three"]


def test_a_partial_summary_file_is_refused_not_mixed_with_template_text(tmp_path):
    path = tmp_path / "summaries.jsonl"
    _write_summaries(path, {1: "one"})
    with pytest.raises(SystemExit, match="2 of 3 items have no summary"):
        bench_text_lift.read_summaries(path, pd.Index([1, 2, 3]))


def test_each_summary_pipeline_is_paired_with_its_template_twin():
    assert bench_text_lift._template_twin("Fusion(L3AE)[summary]") == \
        "Fusion(L3AE)[title_genres]"
    assert bench_text_lift._template_twin("L3AE[title_genres]") == "L3AE[title_genres]"


def test_the_original_runs_keep_their_result_names():
    name = bench_text_lift.result_name
    assert name("small", False, 1, None) == "text_lift_small"
    assert name("small", False, 5, "s.jsonl") == "text_lift_small_last5_summaries"
    assert name("ml1m", True, 1, None) == "text_lift_ml1m_quick"
    assert name("small", False, 1, "s.jsonl", 20) == "text_lift_small_min20_summaries"


def test_an_edited_text_is_encoded_again_not_served_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_text_lift, "RESULTS", tmp_path)
    monkeypatch.setattr("skllmers.llm.SentenceEncoder",
                        lambda **kwargs: HashingEncoder(embed_dim=16))
    first = bench_text_lift.encode("toy", {"summary": ["a film", "a show"]})["summary"]
    again = bench_text_lift.encode("toy", {"summary": ["a film", "a show"]})["summary"]
    edited = bench_text_lift.encode("toy", {"summary": ["a film", "a play"]})["summary"]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first[1], edited[1])
    assert len(list(tmp_path.glob("text_lift_vectors_toy_summary_*.npy"))) == 2


def test_the_summary_fit_is_a_family_of_its_own_with_its_template_twin():
    fits = ["plain", "text", "ease", "plain_tuned", "text_tuned", "summary_tuned"]
    families = bench_sasrec_text._families(fits)
    assert families["tuned"]["pipelines"] == ["text_tuned"]
    assert families["summary"] == {"pipelines": ["summary_tuned"],
                                   "plain": ["plain", "ease", "plain_tuned"],
                                   "twins": {"summary_tuned": "text_tuned"}}
    assert "summary" not in bench_sasrec_text._families(fits[:-1])


def _cold_cells(model: str, text: str, per_user: np.ndarray) -> list:
    return [{"model": f"{model} [{text}]", "text": text, "base_model": model, "seed": seed,
             "ndcg@10": float(per_user.mean()), "recall@10": 0.0, "fit_seconds": 1.0,
             "n_users": len(per_user), "n_candidates": 10,
             "per_user_ndcg@10": {str(u): float(v) for u, v in enumerate(per_user)}}
            for seed in (0, 1)]


def test_cold_item_twins_give_a_verdict_only_where_holm_allows_one():
    rng = np.random.default_rng(0)
    template = rng.uniform(0.1, 0.5, size=60)
    cells = (_cold_cells("bridge(ALS)", "title+genres", template)
             + _cold_cells("bridge(ALS)", "LLM summary", template + 0.05)
             + _cold_cells("text-kNN", "title+genres", template)
             + _cold_cells("text-kNN", "LLM summary", template[::-1])
             + _cold_cells("LightFM + text", "LLM summary", template))  # no twin
    _, _, twins = bench_cold_items.summarize(cells)
    twins = twins.set_index("model")
    assert list(twins.index) == ["bridge(ALS) [LLM summary]", "text-kNN [LLM summary]"]
    assert twins.loc["bridge(ALS) [LLM summary]", "verdict"] == "LLM-written text wins"
    assert twins.loc["bridge(ALS) [LLM summary]", "ratio"] > 1
    assert twins.loc["text-kNN [LLM summary]", "verdict"] == "no difference shown"
    assert (twins["Holm p"] >= twins["p-value"]).all()


def test_the_cold_item_summary_catalogue_is_the_text_lift_catalogue():
    data, texts = bench_cold_items.load_ml_latest_small_summaries()
    parts, lift_texts, _ = bench_text_lift.load_small(summaries=bench_text_lift.SMALL_SUMMARIES)
    assert data.n_items == parts["full_train"].n_items == len(texts["LLM summary"])
    assert sorted(texts["LLM summary"]) == sorted(lift_texts["summary"])
