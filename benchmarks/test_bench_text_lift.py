"""Checks of bench_text_lift.py's summary text and bench_sasrec_text.py's summary family.

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
