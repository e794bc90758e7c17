"""The grid of the LLMERS benchmark: data sets, base models, enhancers, tuning grids.

Everything that decides a number of ``bench_llmers.py`` is here, so that the output can
record it: the data sets and their text columns, each model's default
hyper-parameters and the small grid it is tuned over on validation, each enhancer's
parameters and the grid of its key parameters (also chosen on validation), and the
model x enhancer applicability.
"""

from __future__ import annotations

import itertools
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
    TextFusionRecommender,
)

MODELS = ("Popularity", "EASE", "ALS", "LightFM", "BPR", "LightGCN", "SASRec")
TORCH = {"BPR", "LightGCN", "SASRec"}

#: Enhancers, in the order they are stacked in a Pipeline when combined: the augmenter
#: edits rows, so it goes first; the next three attach artifacts to whatever rows they
#: get; ``semantic`` (EASE's text prior, L3AE) changes the model, and ``fusion`` wraps
#: the finished model (TextFusionRecommender), so it is always the outermost.
ENHANCERS = ("augment", "features", "init", "guidance", "semantic", "fusion")
ENHANCER_CLASSES = {
    "augment": "LLMInteractionAugmenter",
    "features": "LLMSummaryFeaturizer",
    "init": "LLMEmbeddingInitializer",
    "guidance": "GuidanceRegularizer",
    "semantic": "EASERecommender(beta=...) on LLMSummaryFeaturizer item vectors (L3AE)",
    "fusion": "TextFusionRecommender(base) on LLMSummaryFeaturizer item vectors",
}
#: Names accepted by --enhancers: "none" (the base model), each enhancer, "best".
ENHANCER_CHOICES = ("none", *ENHANCERS, "best")

#: Which base models read what an enhancer produces.
APPLIES = {
    "augment": set(MODELS),                          # rows: every model trains on them
    "features": {"LightFM"} | TORCH,                 # item/user feature artifacts
    "init": {"ALS"} | TORCH,                         # item embeddings ("init" mode)
    "guidance": set(TORCH),                          # an alignment loss in training
    "semantic": {"EASE"},                            # EASE's beta (L3AE)
    # models that do not read item_features themselves (the others would train on the
    # vectors as well, and the cell would not be fusion alone)
    "fusion": {"Popularity", "EASE", "ALS"},
}
WHY_NOT = {
    "augment": "",
    "features": "no side-feature input in {model} (only LightFM and the torch models "
                "read item/user features)",
    "init": "no item embedding table to initialise in {model} (only ALS and the torch "
            "models have one)",
    "guidance": "no gradient-trained embeddings in {model} for the alignment loss "
                "(torch models only)",
    "semantic": "{model} has no text prior (EASE's beta, L3AE, only)",
    "fusion": "{model} reads item_features itself, so fusion would also change its "
              "training (fusion is run over Popularity, EASE and ALS)",
}
#: Enhancers whose output reaches an item with no training row (the cold regime runs
#: only pipelines with one of them: the others cannot rank cold items from text).
COLD_READERS = {"features", "init", "semantic", "fusion"}


def applies(enhancer: str, model: str) -> bool:
    return model in APPLIES[enhancer]


def why_not(enhancer: str, model: str) -> str:
    return WHY_NOT[enhancer].format(model=model)


def reads_cold(enhancers) -> bool:
    """Whether a pipeline with these enhancers can rank items with no training row."""
    return bool(COLD_READERS & set(enhancers))


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


def model_params(name: str, spec: DatasetSpec, threads: int) -> dict:
    """Default hyper-parameters of a base model for a data set; :func:`model_grid`
    lists the values tuned on validation on top of them.

    Every parameter that changes a result is pinned here, not left to the library's
    defaults: those move, and a default that changes silently would mix two models
    under one name.
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
                "alpha": 10.0 if small else 1.0, "iterations": 15,
                "num_threads": threads, "use_gpu": False}
    if name == "LightFM":
        return {"n_factors": d, "loss": "warp", "learning_rate": 0.05, "item_alpha": 0.0,
                "user_alpha": 0.0, "epochs": 30, "num_threads": threads,
                "use_features": True, "feature_weight": 1.0}
    if name in ("BPR", "LightGCN"):
        params = {**torch_common, "batch_size": 256 if small else 1024,
                  "learning_rate": 5e-3, "weight_decay": 1e-4, "loss": "bpr",
                  "n_negatives": 1, "epochs": 40 if small else 30}
        if name == "LightGCN":
            params["n_layers"] = 3
        return params
    if name == "SASRec":
        return {**torch_common, "batch_size": 64 if small else 128,
                "learning_rate": 3e-3 if small else 1e-3, "weight_decay": 0.0,
                "loss": "sampled_softmax", "n_negatives": 256, "max_len": 50,
                "n_layers": 2, "n_heads": 1, "dropout": 0.2,
                "epochs": 30 if small else 100}
    raise ValueError(f"unknown model {name!r}; use one of {MODELS}")


def _product(**values) -> list[dict]:
    names = list(values)
    return [dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(values[n] for n in names))]


def model_grid(name: str, spec: DatasetSpec) -> list[dict]:
    """The values of a base model tuned on validation (each dict overrides
    :func:`model_params`); kept small: every point is one fit on the validation split."""
    small = spec.size == "small"
    if name == "Popularity":
        return [{}]
    if name == "EASE":
        return _product(l2=(10.0, 50.0, 200.0, 800.0) if small else (100.0, 400.0, 1600.0))
    if name == "ALS":
        return _product(regularization=(0.01, 0.1, 1.0), alpha=(1.0, 10.0))
    if name == "LightFM":
        return _product(learning_rate=(0.02, 0.05), epochs=(10, 30))
    if name in ("BPR", "LightGCN"):
        return _product(learning_rate=(1e-3, 5e-3), weight_decay=(1e-5, 1e-4))
    if name == "SASRec":
        return _product(learning_rate=(1e-3, 3e-3))
    raise ValueError(f"unknown model {name!r}; use one of {MODELS}")


def quick_overrides(name: str, spec: DatasetSpec) -> dict:
    """Fewer epochs / iterations, for the older scripts' ``--quick`` smoke runs only
    (``bench_model_enhancement.py``); bench_llmers.py never uses them: an
    under-trained base inflates every lift."""
    small = spec.size == "small"
    return {"ALS": {"iterations": 10}, "LightFM": {"epochs": 10},
            "BPR": {"epochs": 20 if small else 15}, "LightGCN": {"epochs": 20 if small else 15},
            "SASRec": {"epochs": 10 if small else 20}}.get(name, {})


_MODEL_CLASSES = {
    "Popularity": PopularityRecommender, "EASE": EASERecommender, "ALS": ALSRecommender,
    "LightFM": LightFMRecommender, "BPR": BPRRecommender, "LightGCN": LightGCNRecommender,
    "SASRec": SASRecRecommender,
}


def make_model(name: str, spec: DatasetSpec, seed: int, threads: int, overrides=None):
    params = {**model_params(name, spec, threads), **(overrides or {})}
    if name not in ("Popularity", "EASE"):
        params["random_state"] = seed
    return _MODEL_CLASSES[name](**params)


# ------------------------------------------------------------------------- enhancers
#: Fusion weights tried on validation; alpha only changes how scores are mixed, so the
#: whole list costs one fit (``tune_fusion_alpha``'s idea).
FUSION_ALPHAS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7)


def enhancer_grid(kind: str, model: str, spec: DatasetSpec) -> list[dict]:
    """The key parameters of an enhancer, chosen on validation with the base model's
    tuned parameters fixed. Keys are Pipeline parameter names; ``model__...`` is the
    base model (inside the fusion wrapper, if any), ``fusion__alpha`` the wrapper's."""
    if kind == "augment":
        return [{"augment__strategy__n_positive": n, "augment__strategy__augmented_weight": w}
                for n, w in ((1, 0.1), (1, 0.5), (3, 0.5))]
    if kind == "features":
        return _product(features__n_components=(16, 64))
    if kind == "init":
        if model == "ALS":  # the prior keeps the text in every ALS item step
            return _product(model__prior_weight=(0.0, 10.0, 100.0))
        return _product(init__target_std=(0.01, 0.1))
    if kind == "guidance":
        return _product(guidance__weight=(1e-3, 1e-2, 1e-1))
    if kind == "semantic":
        return _product(model__beta=(100.0, 1000.0), model__semantic_l2=(3.0, 30.0))
    if kind == "fusion":
        return [{"fusion__alpha": alpha} for alpha in FUSION_ALPHAS]
    raise ValueError(f"unknown enhancer {kind!r}; use one of {ENHANCERS}")


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
    if kind == "text":  # the item vectors that semantic / fusion read
        return LLMSummaryFeaturizer(
            llm, encoder, target="items", text_columns=columns, n_components=None,
            random_state=seed)
    raise ValueError(f"unknown enhancer step {kind!r}")


def ordered(enhancers) -> tuple:
    """Enhancer names in stacking order, without duplicates."""
    return tuple(kind for kind in ENHANCERS if kind in set(enhancers))


def make_pipeline(model: str, config: dict, spec: DatasetSpec, seed: int, *, threads: int,
                  encoder, llm) -> Pipeline:
    """The pipeline of a configuration: ``{"base": model overrides, "enhancers":
    {kind: enhancer_grid point}}``. ``semantic`` and ``fusion`` read item text vectors
    from a ``text`` step (all-MiniLM-L6-v2 of the item text, full width) unless a
    ``features`` or ``init`` step already attaches some (the models accept one set)."""
    enhancers = config.get("enhancers", {})
    kinds = ordered(enhancers)
    steps = [(kind, make_enhancer(kind, model, spec, seed, encoder=encoder, llm=llm))
             for kind in kinds if kind in ("augment", "features", "init", "guidance")]
    if {"semantic", "fusion"} & set(kinds) and not {"features", "init"} & set(kinds):
        steps.append(("text", make_enhancer("text", model, spec, seed, encoder=encoder,
                                            llm=llm)))
    merged = {key: value for kind in kinds for key, value in enhancers[kind].items()}
    base = {**config.get("base", {}),
            **{k[len("model__"):]: v for k, v in merged.items() if k.startswith("model__")}}
    if "semantic" in kinds:
        base.setdefault("semantic", "lae")
    recommender = make_model(model, spec, seed, threads, base)
    if "fusion" in kinds:
        recommender = TextFusionRecommender(recommender, alpha=merged["fusion__alpha"])
    pipeline = Pipeline([*steps, ("model", recommender)])
    step_params = {k: v for k, v in merged.items()
                   if not k.startswith(("model__", "fusion__"))}
    pipeline.set_params(**step_params)
    return pipeline


def label(enhancers) -> str:
    """``"none"`` or the enhancers joined by ``+`` in stacking order."""
    names = ordered(enhancers)
    return "+".join(names) if names else "none"
