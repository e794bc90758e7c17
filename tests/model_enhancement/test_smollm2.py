"""GuidanceRegularizer and LLMEmbeddingInitializer end to end with a real instruct model
(SmolLM2-135M-Instruct): it writes the profiles and embeds them."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from skllmers.datasets import make_text_signal
from skllmers.llm import LlamaCppLLM
from skllmers.llm.testing import HashingEncoder
from skllmers.model_enhancement import GuidanceRegularizer, LLMEmbeddingInitializer
from skllmers.recommenders import BPRRecommender


@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    return LlamaCppLLM(model_path=smollm2_path, n_threads=1, n_ctx=1024, max_tokens=12,
                       chat_format="auto", cache=None, verbose=0)


@pytest.fixture(scope="module")
def data():
    return make_text_signal(n_users=6, n_items=8, random_state=0)


def test_guidance_with_llm_written_profiles(smollm2, data):
    guide = GuidanceRegularizer(smollm2, HashingEncoder(64), weight=0.05, max_history=5, random_state=0)
    pipe = make_pipeline(guide, BPRRecommender(n_factors=4, epochs=2, random_state=0))
    pipe.fit(data)

    profiles = guide.profiles_
    assert all(len(p.strip()) > 0 for p in profiles["items"])
    assert all(len(p.strip()) > 0 for p in profiles["users"])
    assert guide.llm_stats_["calls"] == guide.n_llm_prompts_ == 8 + 6
    assert guide.item_targets_.shape[0] == 8 and guide.user_targets_.shape[0] == 6
    assert np.isfinite(guide.item_targets_).all() and np.isfinite(guide.user_targets_).all()
    assert np.linalg.norm(guide.item_targets_, axis=1).min() > 0
    assert np.isfinite(pipe[-1].item_factors_).all()


def test_initializer_with_the_llm_embeddings(smollm2, data):
    init = LLMEmbeddingInitializer(smollm2, n_components=4, target="both", random_state=0)
    out = init.fit_transform(data)
    items = out.artifacts["item_embeddings"].vectors
    users = out.artifacts["user_embeddings"].vectors
    assert items.shape == (8, 4) and users.shape == (6, 4)
    assert init.encoder_dim_ == smollm2.embed(["x"]).shape[1] > 4
    assert np.isfinite(items).all() and np.isfinite(users).all()
    assert items.std() == pytest.approx(0.1, rel=1e-3)
