"""The artifact contract: what enhancers hand to recommenders is checked when it is made."""

import numpy as np
import pandas as pd
import pytest

from skllmers import EmbeddingInit, GuidanceTargets, InteractionData
from skllmers._artifacts import ARTIFACT_KEYS, ARTIFACTS, check_model_artifacts

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


# ---------------------------------------------------------------------- the registry
@pytest.fixture
def data():
    """3 users, 4 items."""
    return InteractionData.from_pandas(pd.DataFrame(
        {"user_id": [1, 1, 2, 3], "item_id": ["a", "b", "c", "d"]}))


def test_every_key_has_a_rule_a_writer_and_readers():
    assert set(ARTIFACT_KEYS) == set(ARTIFACTS)
    for key, spec in ARTIFACTS.items():
        assert spec.key == key and spec.value and spec.written_by and spec.read_by
        assert spec.merge in ("error", "append")


def test_an_unknown_key_names_the_known_ones_their_writers_and_readers(data):
    with pytest.raises(ValueError) as error:
        data.with_artifacts(item_embedding=EmbeddingInit(np.ones((4, 2))))
    message = str(error.value)
    assert "Unknown artifact key 'item_embedding' (did you mean 'item_embeddings'?)" in message
    for spec in ARTIFACTS.values():
        assert f"{spec.key!r}: {spec.value}; written by {spec.written_by}" in message
        assert spec.readers() in message


def test_a_key_close_to_none_gets_no_suggestion(data):
    with pytest.raises(ValueError, match=r"Unknown artifact key 'my_notes'\. The known keys"):
        data.with_artifacts(my_notes={"a": 1})


def test_the_constructor_checks_artifacts_too(data):
    with pytest.raises(ValueError, match="Unknown artifact key 'features'"):
        InteractionData(data.user_codes, data.item_codes, user_ids=data.user_ids,
                        item_ids=data.item_ids, artifacts={"features": np.ones((4, 2))})
    with pytest.raises(ValueError, match="has 3 rows but the data has 4 items"):
        InteractionData(data.user_codes, data.item_codes, user_ids=data.user_ids,
                        item_ids=data.item_ids, artifacts={"item_features": np.ones((3, 2))})


@pytest.mark.parametrize("key, value, error, message", [
    ("item_features", np.ones((3, 2)), ValueError, "has 3 rows but the data has 4 items"),
    ("user_features", np.ones((4, 2)), ValueError, "has 4 rows but the data has 3 users"),
    ("item_features", np.ones(4), ValueError, "must be 2-D"),
    ("item_features", np.array([[1.0], [np.inf], [0], [1]]), ValueError,
     r"NaN or infinite values \(first in row 1"),
    ("item_features", [["x"], ["y"], ["z"], ["w"]], TypeError, "must be a numeric array"),
    ("item_embeddings", np.ones((4, 2)), TypeError, r"must be an EmbeddingInit .*wrap it"),
    ("user_embeddings", EmbeddingInit(np.ones((4, 2))), ValueError,
     "have 4 rows but the data has 3 users"),
    ("item_embeddings", {"vectors": np.ones((4, 2)), "mood": "init"}, TypeError,
     "mapping must have the fields of EmbeddingInit"),
    ("guidance", GuidanceTargets(user_targets=np.ones((2, 2))), ValueError,
     "user_targets have 2 rows but the data has 3 users"),
    ("guidance", np.ones((4, 2)), TypeError, "must be a GuidanceTargets"),
    ("negatives", np.zeros((2, 2), int), ValueError, r"shape \(m, 3\)"),
    ("negatives", np.zeros((2, 3)), TypeError, "integer codes"),
    ("negatives", [[0, 0, 1], [3, 0, 1]], ValueError,
     r"user codes outside \[0, 3\) \(first in row 1: \[3, 0, 1\]\)"),
    ("negatives", [[0, 0, 1], [0, 0, -1]], ValueError, r"negative codes outside \[0, 4\)"),
    ("negatives", [[0, 4, 1]], ValueError, r"positive codes outside \[0, 4\)"),
])
def test_values_that_break_their_rule_raise_when_attached(data, key, value, error, message):
    with pytest.raises(error, match=message):
        data.with_artifacts(**{key: value})


def test_values_are_stored_in_canonical_form(data):
    enriched = data.with_artifacts(
        item_features=np.ones((4, 2)),
        item_embeddings={"vectors": np.ones((4, 2)), "mode": "frozen"},
        guidance={"user_targets": np.ones((3, 2))},
        negatives=[[0, 0, 1]],
    )
    assert enriched.artifacts["item_features"].dtype == np.float32
    assert isinstance(enriched.artifacts["item_embeddings"], EmbeddingInit)
    assert enriched.artifacts["item_embeddings"].mode == "frozen"
    assert isinstance(enriched.artifacts["guidance"], GuidanceTargets)
    assert enriched.artifacts["negatives"].dtype == np.int64
    assert enriched.take([0]).artifacts is enriched.artifacts  # row views share them


def test_two_steps_writing_negatives_append_their_triples(data):
    first = data.with_artifacts(negatives=[[0, 0, 2]])
    both = first.with_artifacts(negatives=[[1, 2, 3], [0, 0, 2]])
    assert both.artifacts["negatives"].tolist() == [[0, 0, 2], [1, 2, 3], [0, 0, 2]]
    assert first.artifacts["negatives"].tolist() == [[0, 0, 2]]  # unchanged


@pytest.mark.parametrize("key, value", [
    ("item_features", np.ones((4, 2))),
    ("user_embeddings", EmbeddingInit(np.ones((3, 2)))),
    ("guidance", GuidanceTargets(item_targets=np.ones((4, 2)))),
])
def test_two_steps_writing_any_other_key_raise(data, key, value):
    once = data.with_artifacts(**{key: value})
    with pytest.raises(ValueError, match=rf"already carries a '{key}' artifact .*two steps "
                                         rf"write it.*without_artifacts\('{key}'\)"):
        once.with_artifacts(**{key: value})
    replaced = once.without_artifacts(key).with_artifacts(**{key: value})  # on purpose
    assert key in replaced.artifacts


class _Reads:
    _artifacts_read = frozenset({"guidance", "item_features"})
    _unsupported_artifacts = {"guidance.user_targets": "no user table here."}
    _artifact_hints = {"negatives": "Drop them."}


def test_the_model_validator_answers_per_key_and_per_field():
    check_model_artifacts(_Reads(), {"item_features": np.ones((2, 2))})
    check_model_artifacts(_Reads(), {"guidance": GuidanceTargets(item_targets=TARGETS)})
    with pytest.raises(ValueError, match=r"'guidance.user_targets' artifact, which _Reads "
                                         "cannot train with: no user table here."):
        check_model_artifacts(_Reads(), {"guidance": GuidanceTargets(user_targets=TARGETS)})
    with pytest.raises(ValueError, match=r"'negatives' artifact \(from LLMInteractionAugmenter"
                                         r".*\), which _Reads cannot train with\. Drop them\. "
                                         "Use BPRRecommender or LightGCNRecommender"):
        check_model_artifacts(_Reads(), {"negatives": np.zeros((0, 3), int)})
    with pytest.raises(ValueError, match="Unknown artifact key 'negative'"):
        check_model_artifacts(_Reads(), {"negative": None})
