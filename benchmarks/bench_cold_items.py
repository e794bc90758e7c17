"""Cold-start items: rank items that have text but no training row.

Protocol: :class:`~skllmers.model_selection.ColdItemSplit` holds out every interaction
of a random 20% of the items (3 seeds of the split); the held-out items stay in the id
maps and the items table, so their text reaches the models. Every model is scored with
``evaluate(..., candidates="cold")``: for each test user, a ranking of the cold items
only (the user's training items are warm, so none is a candidate), NDCG@10 and
Recall@10.

Item text is encoded once by the packaged all-MiniLM-L6-v2
(:class:`~skllmers.llm.SentenceEncoder`, offline; the vectors are cached). Models:

- ``random``: a random ranking of the cold items (the floor);
- ``text-kNN``: cosine of the mean of the user's training-history vectors to each
  cold item's vector (a content-based baseline with no learning);
- ``LightFM + text``: LightFM (WARP) with the text vectors as item features; its cold
  items are represented by their features alone;
- ``BPR frozen text``: BPR whose item table is a trained linear adapter of the frozen
  text vectors and no ID embedding (AlphaRec-style), which scores any item from text;
- ``bridge(ALS)``, ``bridge(BPR)``: :class:`~skllmers.recommenders.ColdStartBridge`, a
  ridge map (penalty by leave-one-out over the warm items) from text vectors to the
  factors of implicit ALS / implicit-recipe BPR, filling in the cold items' factors
  (the factor model is fitted once per seed and bridged, frozen, for each text; its
  fit time is counted in each bridge cell);
- ``EASE + semantic prior``: only when this build's EASERecommender has one (``beta``).

The goal (issue 13): cold-item NDCG@10 at least 1.2x ``LightFM + text`` and at least 2x
``text-kNN``. Per data set, each model's mean over seeds, its ratio to the baselines,
and a paired Wilcoxon test of per-user NDCG@10 (each user's mean over the seeds it is
evaluated in, users of every seed), Holm-corrected over the comparisons reported.

Run (one CPU thread; about 10-15 minutes per data set)::

    .venv/bin/python benchmarks/bench_cold_items.py --datasets ml-latest-small
    .venv/bin/python benchmarks/bench_cold_items.py --datasets ml-1m-agent4rec

Results: ``benchmarks/results/cold_items_<dataset>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import time
import warnings
from pathlib import Path

import _threads  # noqa: F401  (sets the BLAS/OpenMP threads before numpy loads)
import numpy as np
import pandas as pd
from _protocol import RESULTS_DIR, git_state, versions
from sklearn.frozen import FrozenEstimator

from skllmers import EmbeddingInit, InteractionData
from skllmers.metrics import evaluate, paired_test, per_user_scores
from skllmers.model_selection import ColdItemSplit, DroppedTestRowsWarning
from skllmers.recommenders import (
    ALSRecommender,
    BaseRecommender,
    BPRRecommender,
    ColdStartBridge,
    EASERecommender,
    LightFMRecommender,
)

AGENT4REC = Path("/work/shared/data/ml-1m-agent4rec")
CACHE = Path.home() / ".cache" / "skllmers" / "bench_cold_items"
GOALS = {"LightFM + text": 1.2, "text-kNN": 2.0}
TEMPLATE_TEXT, LLM_TEXT = "title+genres", "LLM summary"  # the texts tested as twins


# ---------------------------------------------------------------------- baselines
class RandomRanking(BaseRecommender):
    """Uniform random scores: the floor any model that reads text must clear."""

    def __init__(self, random_state=0):
        self.random_state = random_state

    def _fit(self, X):
        self.rng_ = np.random.default_rng(self.random_state)

    def _score_users(self, user_codes):
        return self.rng_.random((len(user_codes), self.n_items_), dtype=np.float32)


class TextKNN(BaseRecommender):
    """Cosine of the mean of the user's training-history text vectors to every item."""

    _artifacts_read = frozenset({"item_features"})

    def _fit(self, X):
        vectors = np.asarray(X.artifacts["item_features"], dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.item_vectors_ = vectors / np.maximum(norms, 1e-12)
        history = self.seen_.multiply(1.0 / np.maximum(self.seen_.sum(axis=1), 1)).tocsr()
        profiles = np.asarray(history @ self.item_vectors_)
        norms = np.linalg.norm(profiles, axis=1, keepdims=True)
        self.user_vectors_ = profiles / np.maximum(norms, 1e-12)

    def _score_users(self, user_codes):
        return self.user_vectors_[user_codes] @ self.item_vectors_.T


def bpr_implicit_recipe(seed: int, epochs: int) -> BPRRecommender:
    """implicit's BPR update rule (see BPRRecommender's Notes), one sample at a time."""
    return BPRRecommender(n_factors=64, optimizer="sgd", batch_size=1,
                          negative_sampling="popularity", learning_rate=0.01,
                          weight_decay=0.01, init_std=0.01, epochs=epochs,
                          random_state=seed, device="cpu")


def models(seed: int, quick: bool, lightfm_epochs: int) -> dict:
    """Name -> (estimator, which text artifact it gets; ``("bridge", regressor)``)."""
    epochs = 5 if quick else 30
    candidates = {
        "random": (RandomRanking(random_state=seed), None),
        "text-kNN": (TextKNN(), "item_features"),
        "LightFM + text": (LightFMRecommender(n_factors=64, epochs=lightfm_epochs,
                                              random_state=seed),
                           "item_features_pca"),
        "BPR frozen text": (BPRRecommender(n_factors=64, epochs=epochs, random_state=seed,
                                           device="cpu"), "frozen"),
        "bridge(ALS)": (ALSRecommender(n_factors=64, regularization=0.05, iterations=15,
                                       random_state=seed, num_threads=1, use_gpu=False),
                        "bridge"),
        "bridge(BPR)": (bpr_implicit_recipe(seed, 10 if quick else 100), "bridge"),
        "bridge(ALS, kernel ridge)": (ALSRecommender(n_factors=64, regularization=0.05,
                                                     iterations=15, random_state=seed,
                                                     num_threads=1, use_gpu=False),
                                      ("bridge", kernel_ridge())),
    }
    if "beta" in EASERecommender().get_params():
        candidates["EASE + semantic prior"] = (EASERecommender(beta=1.0), "item_embeddings")
    return candidates


def with_text(data: InteractionData, vectors: dict, kind) -> InteractionData:
    """``data`` with the text vectors attached the way the model reads them.

    ``vectors``: ``{"full": encoder vectors, "pca": their PCA to 64 dimensions}``;
    LightFM gets the PCA (its training cost grows with the feature width: 384-d
    features made a fit about 6x slower), the others the full vectors.
    """
    if kind is None:
        return data
    if kind == "item_features_pca":
        return data.with_artifacts(item_features=vectors["pca"])
    vectors = vectors["full"]
    if kind == "item_features":
        return data.with_artifacts(item_features=vectors)
    if kind == "frozen":
        return data.with_artifacts(item_embeddings=EmbeddingInit(
            vectors, mode="frozen", add_id_embedding=False))
    return data.with_artifacts(item_embeddings=EmbeddingInit(vectors, mode="init"))


# ---------------------------------------------------------------------- data
def load_ml_latest_small():
    from skllmers.datasets import load_movielens

    data = load_movielens("latest-small")
    return data, {"title+genres": _title_genres(data.items)}


def load_ml_latest_small_summaries():
    """ml-latest-small cut to the movies with >= 5 ratings (``bench_text_lift``'s
    catalogue, the one Qwen's summaries cover), with the summaries as a second text."""
    from bench_text_lift import SMALL_SUMMARIES, read_summaries, small_catalogue

    data = small_catalogue(min_ratings=5)
    table = data.items.loc[data.item_ids]
    return data, {"title+genres": _title_genres(table),
                  "LLM summary": read_summaries(SMALL_SUMMARIES, data.item_ids)}


def _title_genres(items: pd.DataFrame) -> list[str]:
    return [f"{title}{'' if pd.isna(year) else f' ({int(year)})'}. Genres: "
            f"{'' if pd.isna(genres) else genres}"
            for title, year, genres in items[["title", "year", "genres"]].itertuples(
                index=False)]


def load_agent4rec():
    def rows(name):
        pairs = []
        for line in (AGENT4REC / name).read_text().splitlines():
            user, *items = line.split()
            pairs += [(int(user), int(item)) for item in items]
        return pairs

    frame = pd.DataFrame(rows("train.txt") + rows("valid.txt") + rows("test.txt"),
                         columns=["user_id", "item_id"]).drop_duplicates()
    movies = pd.read_csv(AGENT4REC / "movies.csv").set_index("movie_id")
    data = InteractionData.from_pandas(frame, items=movies)
    items = data.items
    genres = items["genres"].fillna("").str.replace("|", ", ", regex=False)
    texts = {
        "title+genres": (items["title"] + ". Genres: " + genres).tolist(),
        "LLM summary": items["summary"].fillna("").tolist(),
        "title+genres+summary": (items["title"] + ". Genres: " + genres + ". "
                                 + items["summary"].fillna("")).tolist(),
    }
    return data, texts


DATASETS = {"ml-latest-small": load_ml_latest_small,
            "ml-latest-small-summaries": load_ml_latest_small_summaries,
            "ml-1m-agent4rec": load_agent4rec}


def encode(texts: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 vectors of ``texts``, cached on disk by content."""
    digest = hashlib.sha256("\x1f".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"minilm-{digest}.npy"
    if path.exists():
        return np.load(path)
    from skllmers.llm import SentenceEncoder

    vectors = SentenceEncoder(device="cpu", verbose=0).embed(texts).astype(np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


# ---------------------------------------------------------------------- cells
def run_cell(name, model, train, test, extra_seconds=0.0):
    start = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - start + extra_seconds
    table = evaluate(model, None, test, metrics=("ndcg", "recall"), k=10, fit=False,
                     candidates="cold")
    per_user = per_user_scores(model, test, "ndcg", 10, candidates="cold")
    cell = {"model": name, "fit_seconds": fit_seconds,
            "ndcg@10": float(table["ndcg@10"].iloc[0]),
            "recall@10": float(table["recall@10"].iloc[0]),
            "n_users": int(table["n_users"].iloc[0]),
            "n_candidates": int(table["n_candidates"].iloc[0]),
            "per_user_ndcg@10": {str(k): float(v) for k, v in per_user.items()}}
    if hasattr(model, "alpha_"):
        cell["bridge_alpha"] = model.alpha_
    print(f"  {name:34s} NDCG@10 {cell['ndcg@10']:.4f}  Recall@10 {cell['recall@10']:.4f}"
          f"  ({fit_seconds:.1f} s)", flush=True)
    return cell


def reduce(vectors: np.ndarray) -> np.ndarray:
    """PCA to 64 dimensions, fitted on every item's text vector (no interaction)."""
    from sklearn.decomposition import PCA

    return PCA(64, random_state=0).fit_transform(vectors).astype(np.float32)


LIGHTFM_EPOCH_GRID = (1, 3, 5, 10, 30)


def tune_lightfm_epochs(data, vectors, test_size: float) -> tuple[int, dict]:
    """LightFM's epochs with the best cold-item NDCG@10 on a validation split.

    The split is the first seed's training data (seed 0 of the test split), with
    another share of its items held out by ``ColdItemSplit(random_state=100)``: no test
    item is a candidate or a relevant item. The text is the first item text.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedTestRowsWarning)
        train_rows, _ = next(ColdItemSplit(test_size, random_state=0).split(data))
        train = data.take(train_rows)
        fit_rows, val_rows = next(ColdItemSplit(test_size, random_state=100).split(train))
    fit, validation = train.take(fit_rows), train.take(val_rows)
    candidates = fit.item_ids[np.unique(validation.item_codes)]
    features = with_text(fit, next(iter(vectors.values())), "item_features_pca")
    scores = {}
    for epochs in LIGHTFM_EPOCH_GRID:
        model = LightFMRecommender(n_factors=64, epochs=epochs, random_state=0)
        model.fit(features)
        scores[epochs] = float(evaluate(model, None, validation, metrics=["ndcg"], k=10,
                                        fit=False, candidates=candidates)["ndcg@10"].iloc[0])
        print(f"  LightFM validation, {epochs} epochs: NDCG@10 {scores[epochs]:.4f}",
              flush=True)
    return max(scores, key=scores.get), scores


def run_dataset(dataset: str, seeds, test_size: float, quick: bool, only=None,
                lightfm_epochs=None, text_names=None, resume: bool = False):
    """Cells of every model and seed; ``lightfm_epochs=None`` tunes them on validation."""
    config = {"test_size": test_size, "quick": quick}
    data, texts = DATASETS[dataset]()
    vectors = {}
    for name, text in texts.items():
        if text_names and name not in text_names:
            continue
        full = encode(text)
        vectors[name] = {"full": full, "pca": reduce(full)}
    tuning = None
    if lightfm_epochs is None:
        lightfm_epochs, tuning = (3, None) if quick else tune_lightfm_epochs(
            data, vectors, test_size)
    cells = load_cells(dataset, config) if resume else []
    cells = [c for c in cells if c["seed"] in seeds
             and c.get("lightfm_epochs", lightfm_epochs) == lightfm_epochs]
    for cell in cells:
        cell["reused"] = True  # computed by an earlier run of the same protocol
    done = {(c["seed"], c["model"]) for c in cells}
    for seed in seeds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DroppedTestRowsWarning)
            splitter = ColdItemSplit(test_size=test_size, random_state=seed)
            train_rows, test_rows = next(splitter.split(data))
        train, test = data.take(train_rows), data.take(test_rows)
        print(f"{dataset} seed {seed}: {len(train)} train rows, {len(test)} test rows, "
              f"{splitter.fold_stats_[0]['n_cold_items']} cold items", flush=True)
        bridged = {}  # a bridged model is fitted once per seed, then frozen per text
        for text_name, text_vectors in vectors.items():
            for name, (model, kind) in models(seed, quick, lightfm_epochs).items():
                if only and name not in only:
                    continue
                if kind is None and text_name != next(iter(vectors)):
                    continue  # text-free models once per seed
                label = name if kind is None else f"{name} [{text_name}]"
                if (seed, label) in done:
                    continue
                extra = 0.0
                if kind == "bridge" or isinstance(kind, tuple):
                    regressor = kind[1] if isinstance(kind, tuple) else None
                    key = repr(model)  # one fit per seed of each factor model
                    if key not in bridged:
                        start = time.perf_counter()
                        bridged[key] = (model.fit(train), time.perf_counter() - start)
                    inner, extra = bridged[key]
                    model = ColdStartBridge(FrozenEstimator(inner), regressor=regressor)
                    kind = "item_features"
                cell = run_cell(label, model, with_text(train, text_vectors, kind), test,
                                extra)
                if name == "LightFM + text":
                    cell["lightfm_epochs"] = lightfm_epochs
                cells.append({**cell, "seed": seed, "text": None if kind is None else
                              text_name, "base_model": name, "reused": False})
                save_cells(dataset, cells, config)
    return cells, {"lightfm_epochs": lightfm_epochs, "lightfm_validation": tuning}


def kernel_ridge():
    """RBF kernel ridge (gamma 1: for unit vectors, exp(-2 (1 - cosine))), its penalty
    chosen by 3-fold cross-validation over the warm items."""
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import GridSearchCV

    return GridSearchCV(KernelRidge(kernel="rbf", gamma=1.0),
                        {"alpha": [0.03, 0.1, 0.3]}, cv=3)


def cells_path(dataset: str) -> Path:
    return CACHE / f"cells-{dataset}.jsonl"


def load_cells(dataset: str, config: dict) -> list:
    """Cells of an earlier run with the same protocol (``--resume``)."""
    path = cells_path(dataset)
    if not path.exists():
        return []
    cells = [json.loads(line) for line in path.read_text().splitlines() if line]
    return [c for c in cells if c.get("protocol") == config]


def save_cells(dataset: str, cells: list, config: dict) -> None:
    """Write ``cells``, keeping the stored cells of other protocols."""
    path = cells_path(dataset)
    others = []
    if path.exists():
        others = [line for line in path.read_text().splitlines()
                  if line and json.loads(line).get("protocol") != config]
    CACHE.mkdir(parents=True, exist_ok=True)
    lines = others + [json.dumps({**cell, "protocol": config}) for cell in cells]
    path.write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------------- report
def per_user_mean(frame, label):
    cells = frame.loc[frame["model"] == label, "per_user_ndcg@10"]
    table = pd.DataFrame(list(cells))
    return table.dropna(axis=1).mean(axis=0)  # users evaluated in every seed


def holm(pvalues):
    order = np.argsort(pvalues)
    adjusted = np.empty(len(pvalues))
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, (len(pvalues) - rank) * pvalues[index])
        adjusted[index] = min(1.0, running)
    return adjusted


def summarize(cells):
    frame = pd.DataFrame(cells)
    summary = (frame.groupby("model", sort=False)
               .agg(text=("text", "first"), base_model=("base_model", "first"),
                    seeds=("seed", "nunique"),
                    ndcg_mean=("ndcg@10", "mean"), ndcg_std=("ndcg@10", "std"),
                    recall_mean=("recall@10", "mean"),
                    fit_seconds=("fit_seconds", "median"),
                    n_users=("n_users", "mean"), n_candidates=("n_candidates", "mean"))
               .reset_index())
    comparisons = []
    for _, row in summary.iterrows():
        if row["base_model"] not in ("bridge(ALS)", "bridge(BPR)", "BPR frozen text",
                                     "bridge(ALS, kernel ridge)", "EASE + semantic prior"):
            continue
        for baseline, target in GOALS.items():
            base_label = f"{baseline} [{row['text']}]"
            if base_label not in set(summary["model"]):
                continue
            base_ndcg = summary.loc[summary["model"] == base_label, "ndcg_mean"].iloc[0]
            test = paired_test(per_user_mean(frame, row["model"]),
                               per_user_mean(frame, base_label), random_state=0)
            per_seed = [
                frame.loc[(frame["model"] == row["model"]) & (frame["seed"] == s),
                          "ndcg@10"].iloc[0]
                / frame.loc[(frame["model"] == base_label) & (frame["seed"] == s),
                            "ndcg@10"].iloc[0]
                for s in sorted(frame["seed"].unique())]
            comparisons.append({
                "model": row["model"], "baseline": base_label, "target ratio": target,
                "ratio": row["ndcg_mean"] / base_ndcg, "min ratio over seeds": min(per_seed),
                "p-value": test.pvalue, "n users": test.n})
    comparisons = pd.DataFrame(comparisons)
    if len(comparisons):
        comparisons["Holm p"] = holm(comparisons["p-value"].to_numpy())
        comparisons["met"] = ((comparisons["ratio"] >= comparisons["target ratio"])
                              & (comparisons["Holm p"] < 0.05))
    return summary, comparisons, llm_against_template(frame, summary)


def llm_against_template(frame: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Each model on the LLM summary against the same model on title + genres.

    Holm over these rows only, so the goal rows keep their own family. The verdict:
    "LLM-written text wins" / "template wins" where Holm p < 0.05, else "no difference
    shown".
    """
    labels = set(summary["model"])
    rows = []
    for label in summary["model"]:
        if not label.endswith(f"[{LLM_TEXT}]"):
            continue
        twin = label.replace(f"[{LLM_TEXT}]", f"[{TEMPLATE_TEXT}]")
        if twin not in labels:
            continue
        test = paired_test(per_user_mean(frame, label), per_user_mean(frame, twin),
                           random_state=0)
        rows.append({"model": label, "template twin": twin, "ndcg": test.mean_a,
                     "twin ndcg": test.mean_b, "ratio": test.mean_a / test.mean_b,
                     "p-value": test.pvalue, "n users": test.n})
    table = pd.DataFrame(rows)
    if len(table):
        table["Holm p"] = holm(table["p-value"].to_numpy())
        table["verdict"] = [
            "no difference shown" if p >= 0.05 else
            "LLM-written text wins" if ratio > 1 else "template wins"
            for ratio, p in zip(table["ratio"], table["Holm p"], strict=True)]
    return table


def write(dataset, cells, summary, comparisons, twins, config, fitted_by=None):
    """The results files; ``fitted_by`` (the fit's git state and versions) is kept when
    ``--report`` rewrites them."""
    RESULTS_DIR.mkdir(exist_ok=True)
    name = f"cold_items_{dataset}"
    fitted_by = fitted_by or {"versions": versions(), "git": git_state()}
    payload = {"config": config, **fitted_by,
               "summary": summary.to_dict(orient="records"),
               "comparisons": comparisons.to_dict(orient="records"),
               "llm_against_template": twins.to_dict(orient="records"), "cells": cells}
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(payload, indent=1, default=float))
    table = summary.drop(columns=["base_model"]).to_markdown(index=False, floatfmt=".4f")
    goals = comparisons.to_markdown(index=False, floatfmt=".4g") if len(comparisons) else ""
    reused = sum(bool(cell.get("reused")) for cell in cells)
    provenance = "" if not reused else (
        f" ({reused} of {len(cells)} cells reused, with --resume, from earlier runs of "
        "the same protocol)")
    if "report_command" in config:
        provenance += f"; tables recomputed from its cells by {config['report_command']}"
    text = (f"# Cold-item ranking on {dataset}\n\n{config['command']}{provenance}\n\n"
            f"ColdItemSplit(test_size={config['test_size']}), seeds {config['seeds']}; "
            "NDCG@10 / Recall@10 ranking among the cold items only "
            "(evaluate(..., candidates='cold')).\n\n" + table
            + "\n\n## Goals (ratio of mean NDCG@10; paired Wilcoxon on per-user NDCG@10, "
            "Holm-corrected)\n\n" + goals + "\n")
    if len(twins):
        text += ("\n## LLM-written against template text (each model on the LLM summary "
                 "against the same model on title + genres; paired Wilcoxon on per-user "
                 "NDCG@10, Holm over these rows)\n\n"
                 + twins.to_markdown(index=False, floatfmt=".4g") + "\n")
    (RESULTS_DIR / f"{name}.md").write_text(text)
    print(text)


def report(dataset: str) -> None:
    """Recompute the tables of a committed results file from its cells (no fit)."""
    path = RESULTS_DIR / f"cold_items_{dataset}.json"
    if not path.exists():
        raise SystemExit(f"{path} does not exist; run without --report first")
    payload = json.loads(path.read_text())
    summary, comparisons, twins = summarize(payload["cells"])
    config = {**payload["config"], "report_command": "python " + shlex.join(sys.argv)}
    write(dataset, payload["cells"], summary, comparisons, twins, config,
          {"versions": payload["versions"], "git": payload["git"]})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS,
                        default=["ml-latest-small", "ml-1m-agent4rec"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="*", help="only these base models (names)")
    parser.add_argument("--texts", nargs="*", help="only these item texts (names)")
    parser.add_argument("--lightfm-epochs", type=int, default=None,
                        help="LightFM's epochs; by default the best of "
                             f"{LIGHTFM_EPOCH_GRID} on a validation split")
    parser.add_argument("--quick", action="store_true", help="few epochs: a smoke test")
    parser.add_argument("--resume", action="store_true",
                        help="reuse the cells of an earlier run with the same protocol")
    parser.add_argument("--report", action="store_true",
                        help="recompute the tables of the committed results (no fit)")
    args = parser.parse_args()

    for dataset in args.datasets:
        if args.report:
            report(dataset)
            continue
        cells, chosen = run_dataset(dataset, args.seeds, args.test_size, args.quick,
                                    args.models, args.lightfm_epochs, args.texts,
                                    args.resume)
        summary, comparisons, twins = summarize(cells)
        config = {"dataset": dataset, "seeds": args.seeds, "test_size": args.test_size,
                  "threads": args.threads, "quick": args.quick,
                  **chosen, "texts": args.texts,
                  "command": "python " + shlex.join(sys.argv)}
        if not args.quick:
            write(dataset, cells, summary, comparisons, twins, config)
        else:
            for table in (summary, comparisons, twins):
                print(table.to_markdown(index=False, floatfmt=".4g"))


if __name__ == "__main__":
    main()
