"""Why does item text lower a fully trained SASRec? Validation-only measurements.

Run (one thread; about 3 minutes per variant on ml-latest-small)::

    nice python benchmarks/diagnose_sasrec_text.py --variants plain init features
    nice python benchmarks/diagnose_sasrec_text.py --report

Protocol: ``bench_text_lift.load_small`` (ml-latest-small, items with >= 5 ratings,
LeaveLastOut test split, seed 0); only its *validation* split is used here (the last
training row of each user; the model fits on the rows before it). Each variant is one
SASRec fit (library defaults unless stated, ``random_state`` per ``--seeds``) with the
validation NDCG@10 / Recall@50 measured every ``--every`` epochs, and, at the end, the
scales that the hypotheses are about:

- the mean row norm of the item table's parts: the free ID embedding, the text part
  (adapter of the frozen vectors, or features times projection) and their sum, at the
  start and at the end of training, for the whole catalogue and the 20% least popular
  items;
- the geometry of the text vectors as the model receives them: mean pairwise cosine
  (a shared direction makes every item look alike) and the effective rank
  (exp of the entropy of the normalised singular values), against a random init.

Text: title, year and genres through all-MiniLM-L6-v2 (``bench_text_lift.encode``,
cached). Each fit appends a line to ``benchmarks/results/sasrec_text_diagnosis.jsonl``;
``--report`` writes ``sasrec_text_diagnosis.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import _threads  # noqa: F401  (sets the thread pools before numpy loads)
import numpy as np
import pandas as pd
import torch
from _protocol import git_state
from bench_text_lift import Evaluator, encode, load_small
from sklearn.decomposition import PCA

from skllmers import EmbeddingInit
from skllmers.recommenders import SASRecRecommender

RESULTS = Path(__file__).parent / "results"
CELLS = RESULTS / "sasrec_text_diagnosis.jsonl"


class _Factors:
    """What Evaluator.top needs from a model: scores of users against all items."""

    def __init__(self, users: np.ndarray, items: np.ndarray):
        self.users, self.items = users, items

    def _score_users(self, codes):
        return self.users[codes] @ self.items.T


class CurveSASRec(SASRecRecommender):
    """SASRec that scores an outside validation set every few epochs (diagnosis only)."""

    def _setup(self, train, rows, hooks):
        state = super()._setup(train, rows, hooks)
        self.parts_start_ = item_parts(state.module.items, self._tail)
        return state

    def _run_epoch(self, state, guidance, optimizer, rng):
        loss = super()._run_epoch(state, guidance, optimizer, rng)
        epoch = len(self.loss_curve_) + 1
        if epoch % self._every == 0 or epoch == self.epochs:
            factors = _Factors(*self._factors(state, serving=False))
            self.curve_.append({"epoch": epoch, **validation_scores(self._evaluator, factors)})
            state.module.train()
        if epoch == self.epochs:
            self.parts_end_ = item_parts(state.module.items, self._tail)
        return loss


def validation_scores(evaluator: Evaluator, model) -> dict:
    top = evaluator.top(model, 50)
    hits = [np.isin(top[i], rel) for i, rel in enumerate(evaluator.relevant)]
    ranks = [np.flatnonzero(h) for h in hits]
    ndcg = np.mean([1 / np.log2(r[0] + 2) if len(r) and r[0] < 10 else 0.0 for r in ranks])
    recall50 = np.mean([h.any() for h in hits])
    return {"ndcg@10": float(ndcg), "recall@50": float(recall50)}


@torch.no_grad()
def item_parts(items, tail: np.ndarray) -> dict:
    """Mean row norm of each part of the item table (all items / the tail items)."""
    parts = {}
    if items.id is not None:
        parts["id"] = items.id
    if items.frozen is not None:
        parts["text"] = items.adapter(items.frozen)
    if items.features is not None:
        parts["text"] = items.features @ items.projection
    parts["total"] = items()
    out = {}
    for name, table in parts.items():
        norms = table.detach().norm(dim=1).cpu().numpy()
        out[name] = float(norms.mean())
        out[f"{name}_tail"] = float(norms[tail].mean())
    return out


def geometry(matrix: np.ndarray) -> dict:
    """Mean pairwise cosine and effective rank of the rows of ``matrix``."""
    rows = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    mean = rows.mean(axis=0)
    n = len(rows)
    cosine = (n * n * float(mean @ mean) - n) / (n * (n - 1))
    singular = np.linalg.svd(matrix - 0.0, compute_uv=False)
    p = singular / singular.sum()
    rank = float(np.exp(-(p * np.log(p + 1e-12)).sum()))
    return {"mean_cosine": round(cosine, 3), "effective_rank": round(rank, 1),
            "row_norm": round(float(np.linalg.norm(matrix, axis=1).mean()), 3),
            "entry_std": round(float(matrix.std()), 4)}


# ---------------------------------------------------------------------- variants
def pca(vectors: np.ndarray, width: int, whiten: bool) -> np.ndarray:
    reduced = PCA(width, whiten=whiten, random_state=0).fit_transform(vectors)
    return (reduced * (0.1 / reduced.std())).astype(np.float32)


def variant_data(name: str, fit_data, vectors: np.ndarray, width: int):
    """(data with the variant's artifacts, extra SASRec parameters)."""
    centered = None if vectors is None else vectors - vectors.mean(axis=0)
    table = {
        "plain": lambda: (fit_data, {}),
        # library defaults: LLMEmbeddingInitializer(mode="init") = PCA, entry std 0.1
        "init": lambda: (fit_data.with_artifacts(item_embeddings=EmbeddingInit(
            pca(vectors, width, whiten=False))), {}),
        "init_whiten": lambda: (fit_data.with_artifacts(item_embeddings=EmbeddingInit(
            pca(vectors, width, whiten=True))), {}),
        "features": lambda: (fit_data.with_artifacts(item_features=vectors), {}),
        "features_centered": lambda: (fit_data.with_artifacts(item_features=centered), {}),
        "frozen": lambda: (fit_data.with_artifacts(item_embeddings=EmbeddingInit(
            vectors, mode="frozen")), {}),
        "frozen_centered": lambda: (fit_data.with_artifacts(item_embeddings=EmbeddingInit(
            centered, mode="frozen")), {}),
        "shuffled_init_whiten": lambda: (fit_data.with_artifacts(
            item_embeddings=EmbeddingInit(pca(vectors[_perm(len(vectors))], width, True))),
            {}),
    }
    if name not in table:
        raise SystemExit(f"unknown variant {name!r}; choose from {sorted(table)}")
    return table[name]()


def _perm(n: int) -> np.ndarray:
    return np.random.default_rng(0).permutation(n)


def run_variant(name: str, seed: int, epochs: int, every: int, params: dict) -> dict:
    parts, texts, protocol = load_small()
    vectors = None if name == "plain" else encode("small", texts)["title_genres"]
    fit_data = parts["train"]
    evaluator = Evaluator(parts["valid"], [fit_data], protocol["goal_k"])
    popularity = np.bincount(fit_data.item_codes, minlength=fit_data.n_items)
    tail = popularity <= np.quantile(popularity, 0.2)
    n_factors = params.get("n_factors", 64)
    data, extra = variant_data(name, fit_data, vectors, n_factors)
    model = CurveSASRec(epochs=epochs, random_state=seed, device="cpu",
                        **{**extra, **params})
    model._evaluator, model._every, model._tail, model.curve_ = evaluator, every, tail, []
    start = time.perf_counter()
    model.fit(data)
    seconds = time.perf_counter() - start
    art = data.artifacts
    text = None
    if "item_embeddings" in art:
        text = art["item_embeddings"].vectors
    elif "item_features" in art:
        text = art["item_features"]
    final = validation_scores(evaluator, model)
    best = max(model.curve_, key=lambda c: c["ndcg@10"])
    return {"variant": name, "seed": seed, "params": params, "epochs": epochs,
            "seconds": seconds, "final": final, "best_epoch": best["epoch"],
            "best_ndcg@10": best["ndcg@10"], "curve": model.curve_,
            "parts_start": model.parts_start_, "parts_end": model.parts_end_,
            "text_geometry": None if text is None else geometry(np.asarray(text)),
            "learned_geometry": geometry(model.item_factors_),
            "commit": git_state()["commit"]}


# ---------------------------------------------------------------------- report
def report() -> None:
    cells = [json.loads(line) for line in CELLS.read_text().splitlines() if line.strip()]
    rows = []
    for c in cells:
        start, end = c["parts_start"], c["parts_end"]
        rows.append({
            "variant": c["variant"], "params": json.dumps(c["params"]) if c["params"] else "",
            "seed": c["seed"], "valid ndcg@10 (end)": c["final"]["ndcg@10"],
            "valid recall@50 (end)": c["final"]["recall@50"],
            "best ndcg@10 (epoch)": f"{c['best_ndcg@10']:.4f} ({c['best_epoch']})",
            "plateau ndcg@10": _plateau(c, "ndcg@10"),
            "plateau recall@50": _plateau(c, "recall@50"),
            "id norm start->end": _pair(start, end, "id"),
            "text norm start->end": _pair(start, end, "text"),
            "total norm start->end": _pair(start, end, "total"),
            "tail total norm end": round(end["total_tail"], 2),
            "fit s": round(c["seconds"]),
        })
    table = pd.DataFrame(rows)
    plain = table[table["variant"] == "plain"]
    base = plain["valid ndcg@10 (end)"].mean() if len(plain) else np.nan
    table["end vs plain"] = table["valid ndcg@10 (end)"] / base
    table["plateau vs plain"] = table["plateau ndcg@10"] / plain["plateau ndcg@10"].mean()
    geo = {c["variant"]: c["text_geometry"] for c in cells if c["text_geometry"]}
    geo["random init (std 0.1)"] = geometry(
        np.random.default_rng(0).normal(0, 0.1, (3000, 64)))
    geo["plain SASRec, learned items"] = next(
        (c["learned_geometry"] for c in cells if c["variant"] == "plain"), None)
    curves = pd.DataFrame({f"{c['variant']} s{c['seed']} {json.dumps(c['params'])}":
                           {p["epoch"]: p["ndcg@10"] for p in c["curve"]} for c in cells})
    lines = [
        "# SASRec + item text: diagnosis on validation (ml-latest-small)", "",
        "`python benchmarks/diagnose_sasrec_text.py --variants ...` then `--report`; "
        f"commits {sorted({c['commit'] for c in cells})}. Validation rows only "
        "(LeaveLastOut of the training split); 2 shared CPU cores, 1 thread per fit, "
        "machine load about 5 (fit seconds are wall time under that load). 'plateau': "
        "the mean of the scores at epochs 25, 30, ..., 50 (one seed; consecutive "
        "epochs of one fit differ by about 0.004).", "",
        "## Fits", "", table.to_markdown(index=False, floatfmt=".4f"), "",
        "## Geometry of the vectors the model receives", "",
        pd.DataFrame(geo).T.to_markdown(), "",
        "## Validation NDCG@10 by epoch", "", curves.to_markdown(floatfmt=".4f"), "",
    ]
    notes = RESULTS / "sasrec_text_diagnosis_notes.md"
    if notes.exists():
        lines += [notes.read_text()]
    (RESULTS / "sasrec_text_diagnosis.md").write_text("\n".join(lines))
    print("\n".join(lines))


def _plateau(cell: dict, metric: str) -> float:
    """Mean of the validation scores of epochs 25-50: less noisy than the last one."""
    return float(np.mean([p[metric] for p in cell["curve"] if 25 <= p["epoch"] <= 50]))


def _pair(start: dict, end: dict, key: str) -> str:
    if key not in start:
        return ""
    return f"{start[key]:.2f} -> {end[key]:.2f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="*", default=[])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--params", default="{}", help="JSON of extra SASRec parameters")
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.variants:
        for seed in args.seeds:
            cell = run_variant(name, seed, args.epochs, args.every, json.loads(args.params))
            with CELLS.open("a") as f:
                f.write(json.dumps(cell) + "\n")
            print(json.dumps({k: cell[k] for k in ("variant", "seed", "final", "best_epoch",
                                                   "parts_start", "parts_end", "seconds")}),
                  flush=True)
    if args.report:
        report()


if __name__ == "__main__":
    sys.exit(main())
