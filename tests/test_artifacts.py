"""The artifact contract: what enhancers hand to recommenders is checked when it is made."""

import numpy as np
import pytest

from skllmers import EmbeddingInit, GuidanceTargets

TARGETS = np.ones((4, 3))


@pytest.mark.parametrize("params, message", [
    ({}, "needs item_targets, user_targets or both"),
    ({"item_targets": np.ones(4)}, r"item_targets must be 2-D .* shape \(4,\)"),
    ({"user_targets": np.array([[np.nan]])}, "user_targets contains NaN"),
    ({"item_targets": TARGETS, "kind": "distill"}, "kind='distill'; use one of"),
    ({"item_targets": TARGETS, "weight": -0.1}, "weight must be >= 0"),
    ({"item_targets": TARGETS, "temperature": 0}, "temperature must be > 0"),
    ({"item_targets": TARGETS, "mask_ratio": 0}, r"mask_ratio must be in \(0, 1\]"),
    ({"item_targets": TARGETS, "n_neighbors": 0}, "n_neighbors must be an int >= 1"),
    ({"item_targets": TARGETS, "n_neighbors": 2.5}, "n_neighbors must be an int >= 1"),
])
def test_guidance_targets_reject_bad_values(params, message):
    with pytest.raises(ValueError, match=message):
        GuidanceTargets(**params)


def test_guidance_targets_store_float32_matrices():
    targets = GuidanceTargets(user_targets=[[1, 2], [3, 4]], kind="distillation",
                              n_neighbors=np.int64(1))
    assert targets.user_targets.dtype == np.float32 and targets.item_targets is None


@pytest.mark.parametrize("params, message", [
    ({"vectors": np.ones(3)}, "vectors must be 2-D"),
    ({"vectors": TARGETS, "mode": "frozen-ish"}, "mode='frozen-ish'; use one of"),
])
def test_embedding_init_rejects_bad_values(params, message):
    with pytest.raises(ValueError, match=message):
        EmbeddingInit(**params)
