"""RLMRec-Gen (kind="generative") needs context to reconstruct from: BPR and SASRec refuse it."""

import numpy as np
import pytest
from test_torch_data import clustered_data, leave_last_out

from skllmers import GuidanceTargets
from skllmers.recommenders import BPRRecommender, LightGCNRecommender, SASRecRecommender


@pytest.fixture(scope="module")
def train():
    return leave_last_out(clustered_data())[0]


def _generative(train, weight=0.1):
    targets = np.random.default_rng(0).normal(size=(train.n_items, 8)).astype(np.float32)
    return train.with_artifacts(guidance=GuidanceTargets(item_targets=targets, weight=weight,
                                                         kind="generative"))


@pytest.mark.parametrize("model", [
    BPRRecommender(n_factors=8, epochs=1, random_state=0, optimizer="adam"),
    SASRecRecommender(n_factors=8, epochs=1, random_state=0, device="cpu"),
], ids=lambda m: type(m).__name__)
def test_models_without_context_refuse_generative_guidance(model, train):
    name = type(model).__name__
    with pytest.raises(ValueError, match=rf"kind='generative'.*{name} has no context.*"
                                         r"kind='contrastive'.*LightGCNRecommender"):
        model.fit(_generative(train))


def test_lightgcn_masks_and_trains_with_generative_guidance(train):
    model = LightGCNRecommender(n_factors=8, epochs=1, random_state=0, device="cpu")
    model.fit(_generative(train))
    assert np.isfinite(model.item_factors_).all()
