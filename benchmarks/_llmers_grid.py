"""The grid of the LLMERS benchmark: data sets, base models, enhancers and which apply where.

Everything that decides a number of ``bench_llmers.py`` is here, so that the output can
record it: the data sets and their text columns, each model's hyper-parameters (full
and ``--quick``), each enhancer's parameters, and the model x enhancer applicability.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sklearn.pipeline import Pipeline

from skllmers import (
    GuidanceRegularizer,
    LLMEmbeddingInitializer,
    LLMInteractionAugmenter,
    LLMSummaryFeaturizer,
)
from skllmers.datasets import load_movielens, make_text_signal
from skllmers.interaction import EmbeddingNeighbors, LLMSelect
from skllmers.recommenders import (
    ALSRecommender,
    BPRRecommender,
    EASERecommender,
    LightFMRecommender,
    LightGCNRecommender,
    PopularityRecommender,
    SASRecRecommender,
)

MODELS = ("Popularity", "EASE", "ALS", "LightFM", "BPR", "LightGCN", "SASRec")
TORCH = {"BPR", "LightGCN", "SASRec"}

#: Enhancers, in the order they are stacked in a Pipeline when combined: the augmenter
#: edits rows, so it goes first; the others attach artifacts to whatever rows they get.
ENHANCERS = ("augment", "features", "init", "guidance")
ENHANCER_CLASSES = {
    "augment": "LLMInteractionAugmenter",
    "features": "LLMSummaryFeaturizer",
    "init": "LLMEmbeddingInitializer",
    "guidance": "GuidanceRegularizer",
}
#: Names accepted by --enhancers: "none" (the base model), each enhancer, "best".
ENHANCER_CHOICES = ("none", *ENHANCERS, "best")

#: Which base models read what an enhancer produces.
APPLIES = {
    "augment": set(MODELS),                          # rows: every model trains on them
    "features": {"LightFM"} | TORCH,                 # item/user feature artifacts
    "init": {"ALS"} | TORCH,                         # item embeddings ("init" mode)
    "guidance": set(TORCH),                          # an alignment loss in training
}
WHY_NOT = {
    "features": "no side-feature input in {model} (only LightFM and the torch models "
                "read item/user features)",
    "init": "no item embedding table to initialise in {model} (only ALS and the torch "
            "models have one)",
    "guidance": "no gradient-trained embeddings in {model} for the alignment loss "
                "(torch models only)",
}


def applies(enhancer: str, model: str) -> bool:
    return model in APPLIES[enhancer]


def why_not(enhancer: str, model: str) -> str:
    return WHY_NOT[enhancer].format(model=model)


# ------------------------------------------------------------------------- data sets
@dataclass(frozen=True)
class DatasetSpec:
    """A data set of the benchmark and the settings that depend on its size."""

    name: str
    description: str
    text_columns: tuple
    size: str  # "small" (a few thousand rows) or "medium" (about 100k rows and more)
    loader_args: dict = field(default_factory=dict)

    def load(self):
        """The InteractionData; FileNotFoundError for a MovieLens variant not downloaded."""
        if self.name == "text_signal":
            return make_text_signal(**self.loader_args)
        return load_movielens(self.loader_args["variant"], download=False, verbose=False)


DATASETS = {
    "text_signal": DatasetSpec(
        "text_signal", "make_text_signal(random_state=0): 300 users, 500 items, 8 topics",
        ("title", "description"), "small", {"random_state": 0}),
    # User tags are interactions of other users: left out of item text, as in
    # bench_knowledge_interaction.py.
    "ml-latest-small": DatasetSpec(
        "ml-latest-small", "MovieLens latest-small (bundled): 610 users, 9,742 movies",
        ("title", "genres"), "medium", {"variant": "latest-small"}),
    "ml-100k": DatasetSpec(
        "ml-100k", "MovieLens 100k (if downloaded): 943 users, 1,682 movies",
        ("title", "genres"), "medium", {"variant": "100k"}),
    "ml-1m": DatasetSpec(
        "ml-1m", "MovieLens 1M (if downloaded): 6,040 users, 3,883 movies",
        ("title", "genres"), "medium", {"variant": "1m"}),
}


# ------------------------------------------------------------------------- models
def n_factors(spec: DatasetSpec) -> int:
    return 32 if spec.size == "small" else 64


def model_params(name: str, spec: DatasetSpec, quick: bool, threads: int) -> dict:
    """Hyper-parameters of a base model for a data set (sized by a short check on seed 0;
    the torch batch sizes give a few dozen steps per epoch on each data set).

    Every parameter that changes a result is pinned here, not left to the library's
    defaults: those move (the torch defaults were retuned, and ``n_negatives=None``
    changed meaning for SASRec, while the committed runs were going), and a default
    that changes silently would mix two models under one name.
    """
    d = n_factors(spec)
    small = spec.size == "small"
    torch_common = {"n_factors": d, "adapter": "linear", "early_stopping": False,
                    "validation_fraction": 0.1, "n_iter_no_change": 5, "device": "cpu"}
    if name == "Popularity":
        return {"use_weights": True}
    if name == "EASE":
        return {"l2": 200.0, "implicit": True, "max_items": 20_000}
    if name == "ALS":
        return {"n_factors": d, "regularization": 1.0 if small else 0.01,
                "alpha": 10.0 if small else 1.0, "iterations": 10 if quick else 15,
                "num_threads": threads, "use_gpu": False}
    if name == "LightFM":
        return {"n_factors": d, "loss": "warp", "learning_rate": 0.05, "item_alpha": 0.0,
                "user_alpha": 0.0, "epochs": 10 if quick else 30, "num_threads": threads,
                "use_features": True, "feature_weight": 1.0}
    if name in ("BPR", "LightGCN"):
        params = {**torch_common, "batch_size": 256 if small else 1024,
                  "learning_rate": 5e-3, "weight_decay": 1e-4, "loss": "bpr",
                  "n_negatives": 1,
                  "epochs": (20 if quick else 40) if small else (15 if quick else 30)}
        if name == "LightGCN":
            params["n_layers"] = 3
        return params
    if name == "SASRec":
        return {**torch_common, "batch_size": 64 if small else 128,
                "learning_rate": 3e-3 if small else 1e-3, "weight_decay": 0.0,
                "loss": "sampled_softmax", "n_negatives": 256, "max_len": 50,
                "n_layers": 2, "n_heads": 1, "dropout": 0.2,
                "epochs": (10 if quick else 30) if small else (20 if quick else 100)}
    raise ValueError(f"unknown model {name!r}; use one of {MODELS}")


_MODEL_CLASSES = {
    "Popularity": PopularityRecommender, "EASE": EASERecommender, "ALS": ALSRecommender,
    "LightFM": LightFMRecommender, "BPR": BPRRecommender, "LightGCN": LightGCNRecommender,
    "SASRec": SASRecRecommender,
}


def make_model(name: str, spec: DatasetSpec, seed: int, quick: bool, threads: int):
    params = model_params(name, spec, quick, threads)
    if name not in ("Popularity", "EASE"):
        params["random_state"] = seed
    return _MODEL_CLASSES[name](**params)


# ------------------------------------------------------------------------- enhancers
def make_enhancer(kind: str, model: str, spec: DatasetSpec, seed: int, *, encoder, llm):
    """One enhancer step. Without an LLM (``llm=None``) each runs in its encoder-only mode."""
    columns = list(spec.text_columns)
    if kind == "augment":
        if llm is None:  # LLM-InS: the unseen items nearest to the user's history
            return LLMInteractionAugmenter(
                encoder=encoder, max_history=20, text_columns=columns, random_state=seed,
                strategy=EmbeddingNeighbors(n_positive=1, augmented_weight=0.1))
        return LLMInteractionAugmenter(  # LLMRec: the LLM scores each item-kNN candidate
            llm, encoder=encoder, max_history=20, text_columns=columns, random_state=seed,
            strategy=LLMSelect(retriever="item_knn", n_candidates=10, n_positive=1,
                               augmented_weight=0.1))
    if kind == "features":
        # SASRec has no user embedding to add user features to: items only.
        target = "items" if model == "SASRec" else "both"
        return LLMSummaryFeaturizer(
            llm, encoder, target=target, text_columns=columns, n_components=16,
            max_history=30, random_state=seed)
    if kind == "init":
        return LLMEmbeddingInitializer(
            encoder, n_components=n_factors(spec), mode="init", reduction="pca",
            target_std=0.1, text_columns=columns, random_state=seed)
    if kind == "guidance":
        return GuidanceRegularizer(
            llm, encoder, target="both", weight=1e-2, temperature=0.2,
            kind="contrastive", max_history=20, text_columns=columns, random_state=seed)
    raise ValueError(f"unknown enhancer {kind!r}; use one of {ENHANCERS}")


def ordered(enhancers) -> tuple:
    """Enhancer names in stacking order, without duplicates."""
    return tuple(kind for kind in ENHANCERS if kind in set(enhancers))


def make_pipeline(model: str, enhancers, spec: DatasetSpec, seed: int, *, quick: bool,
                  threads: int, encoder, llm) -> Pipeline:
    steps = [(kind, make_enhancer(kind, model, spec, seed, encoder=encoder, llm=llm))
             for kind in ordered(enhancers)]
    steps.append(("model", make_model(model, spec, seed, quick, threads)))
    return Pipeline(steps)


def label(enhancers) -> str:
    """``"none"`` or the enhancers joined by ``+`` in stacking order."""
    names = ordered(enhancers)
    return "+".join(names) if names else "none"
