"""LLMSummaryFeaturizer end to end with a real instruct model (SmolLM2-135M-Instruct)."""

import numpy as np
import pytest

from skllmers.datasets import make_text_signal
from skllmers.knowledge import LLMSummaryFeaturizer
from skllmers.llm import LlamaCppLLM
from skllmers.llm.testing import HashingEncoder


@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    return LlamaCppLLM(model_path=smollm2_path, n_threads=1, n_ctx=1024, max_tokens=12,
                       chat_format="auto", cache=None, verbose=0)


def test_real_llm_writes_item_and_user_summaries(smollm2):
    data = make_text_signal(n_users=6, n_items=8, random_state=0)
    featurizer = LLMSummaryFeaturizer(smollm2, HashingEncoder(64), target="both", max_history=5,
                                      n_components=3, random_state=0)
    out = featurizer.fit_transform(data)

    summaries = featurizer.summaries_
    assert (summaries["kind"] == "item").sum() == 8 and (summaries["kind"] == "user").sum() == 6
    # real generated text: non-empty, and not an echo of the prompt's own history
    assert summaries["summary"].str.strip().str.len().gt(0).all()
    users = summaries[summaries["kind"] == "user"]
    assert all(s not in p for s, p in zip(users["summary"], users["prompt"], strict=True))
    assert featurizer.llm_stats_["calls"] == featurizer.n_llm_prompts_ == 14
    items, users = out.artifacts["item_features"], out.artifacts["user_features"]
    assert items.shape == (8, 3) and users.shape == (6, 3)
    assert np.isfinite(items).all() and np.isfinite(users).all()
    assert np.linalg.matrix_rank(items) == 3  # the summaries differ
