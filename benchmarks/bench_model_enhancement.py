"""Model enhancement on ml-latest-small: LLM-initialised and LLM-guided torch recommenders.

Run by hand::

    .venv/bin/python benchmarks/bench_model_enhancement.py --seeds 5
    .venv/bin/python benchmarks/bench_model_enhancement.py --seeds 2 --models BPR LightGCN

For each seed the bundled ml-latest-small is split by ``LeaveLastOut`` (each user's
last rating held out, ties broken by the seed, which also seeds the models), and for
each base model (BPR, LightGCN, SASRec; hyper-parameters of ``_llmers_grid.py``) up to six
pipelines are fitted on the same training rows:

- ``base``: the model alone;
- ``init``: ``LLMEmbeddingInitializer`` in front (all-MiniLM-L6-v2 vectors of each
  movie's title and genres, PCA to the model's width, rescaled to the models' init std
  0.1, ``mode="init"``; Harte et al. 2023);
- ``guided``: ``GuidanceRegularizer`` in front (RLMRec-Con: weight 1e-2, temperature
  0.2; item profiles = movie text, user profiles = the user's 20 latest *training*
  movies, embedded by the same encoder);
- ``both``: the initializer, then the regularizer;
- ``init+users``: the initializer with ``target="both"``: the user table starts from
  each user's 20 latest training movies, embedded and mapped into the items' PCA
  coordinates (BPR and LightGCN; SASRec has no user table);
- ``distilled``: ``GuidanceRegularizer(kind="distillation")`` (after LLM-ESR's
  retrieval self-distillation: each user and item is pulled toward the mean embedding
  of its 10 nearest users / items in encoder space; weight 0.2, set on
  ``make_text_signal`` data, not on this benchmark).

Reported per (model, pipeline): mean and std over seeds of NDCG@10 over all held-out
users and over the long tail -- ``tail items``: users whose held-out movie is in the
lowest popularity quintile of the held-out movies; ``tail users``: users in the lowest
quintile of training activity (``_protocol.long_tail_groups``) -- and, against the same
model's ``base``, the relative lift and a paired Wilcoxon test over users of NDCG@10
averaged over seeds (``skllmers.metrics.paired_test``). Costs: seconds of the enhancer
steps (encoder included) and of the model's fit.

The encoder cache is persistent (``--cache-dir``, default the skllmers cache), so the
item texts are embedded once for all seeds, models and pipelines; user histories
differ by seed only where the held-out row does. Resumable: finished cells are lines
of ``results/model_enhancement_cells.jsonl``. Writes
``benchmarks/results/model_enhancement.{json,md}``.
"""

from __future__ import annotations

import argparse

from _threads import THREADS as _THREADS  # first: it sizes the thread pools

# isort: split
import time
import warnings

import pandas as pd
import torch
from _llmers_grid import DATASETS, make_model, n_factors, quick_overrides
from _protocol import (
    RESULTS_DIR,
    CellLog,
    leave_last_out,
    long_tail_groups,
    per_user_quality,
    seeds_argument,
    versions,
)
from sklearn.pipeline import Pipeline

from skllmers.llm import LLMCache, SentenceEncoder, default_cache_dir
from skllmers.metrics import paired_test
from skllmers.model_enhancement import (
    GuidanceRegularizer,
    LLMEmbeddingInitializer,
)

SPEC = DATASETS["ml-latest-small"]
MODELS = ("BPR", "LightGCN", "SASRec")
PIPELINES = ("base", "init", "guided", "both", "init+users", "distilled")
#: Pipelines that only some models can run (SASRec has no user embedding table).
ONLY_FOR = {"init+users": {"BPR", "LightGCN"}}
GROUPS = ("all", "tail items", "tail users")
NAME = "model_enhancement"


def enhancers(kind: str, seed: int, encoder) -> list:
    columns = list(SPEC.text_columns)
    steps = []
    if kind in ("init", "both", "init+users"):
        steps.append(("init", LLMEmbeddingInitializer(
            encoder, n_components=n_factors(SPEC), mode="init", text_columns=columns,
            target="both" if kind == "init+users" else "items", max_history=20,
            random_state=seed)))
    if kind in ("guided", "both"):
        steps.append(("guidance", GuidanceRegularizer(
            encoder=encoder, weight=1e-2, temperature=0.2, kind="contrastive", max_history=20,
            text_columns=columns, random_state=seed)))
    if kind == "distilled":
        steps.append(("guidance", GuidanceRegularizer(
            encoder=encoder, weight=0.2, kind="distillation", n_neighbors=10, max_history=20,
            text_columns=columns, random_state=seed)))
    return steps


def run_cell(model_name: str, kind: str, seed: int, train, test, args, encoder) -> dict:
    """Fit one pipeline on ``train``; per-user NDCG@10 on ``test`` and the costs."""
    steps = enhancers(kind, seed, encoder)
    model = make_model(model_name, SPEC, seed, args.threads,
                       quick_overrides(model_name, SPEC) if args.quick else None)
    pipeline = Pipeline([*steps, ("model", model)])
    start = time.perf_counter()
    enhanced = train
    for _, step in steps:
        enhanced = step.fit_transform(enhanced)
    enhance_seconds = time.perf_counter() - start
    model.fit(enhanced)
    fit_seconds = time.perf_counter() - start - enhance_seconds
    per_user = per_user_quality(pipeline, test)["ndcg@10"]
    return {"enhance_seconds": enhance_seconds, "fit_seconds": fit_seconds,
            "per_user_ndcg@10": {str(user): float(v) for user, v in per_user.items()}}


def group_users(train, test) -> dict:
    tails = long_tail_groups(train, test)
    return {"all": None, "tail items": [str(u) for u in tails["tail_items"]],
            "tail users": [str(u) for u in tails["tail_users"]]}


def summarize(cells: list[dict], groups_by_seed: dict) -> pd.DataFrame:
    """One row per (model, pipeline): NDCG@10 per group, lift and p-value vs base."""
    rows = []
    for model_name in dict.fromkeys(c["model"] for c in cells):
        for kind in PIPELINES:
            mine = [c for c in cells if c["model"] == model_name and c["pipeline"] == kind]
            if not mine:
                continue
            base = [c for c in cells if c["model"] == model_name and c["pipeline"] == "base"]
            row = {"model": model_name, "pipeline": kind, "seeds": len(mine),
                   "enhance s": _mean([c["enhance_seconds"] for c in mine]),
                   "fit s": _mean([c["fit_seconds"] for c in mine])}
            for group in GROUPS:
                row.update(_group_columns(mine, base, group, groups_by_seed, kind == "base"))
            rows.append(row)
    return pd.DataFrame(rows)


def _group_columns(mine, base, group, groups_by_seed, is_base) -> dict:
    means = [_restrict(c, group, groups_by_seed).mean() for c in mine]
    columns = {f"NDCG@10 {group}": _mean(means),
               f"std {group}": pd.Series(means).std(ddof=1) if len(means) > 1 else 0.0}
    if is_base or not base:
        return columns
    result = paired_test(_seed_mean(mine, group, groups_by_seed),
                         _seed_mean(base, group, groups_by_seed), method="wilcoxon")
    columns[f"lift {group}"] = result.relative_difference
    columns[f"p {group}"] = result.pvalue
    return columns


def _restrict(cell, group, groups_by_seed) -> pd.Series:
    scores = pd.Series(cell["per_user_ndcg@10"])
    users = groups_by_seed[cell["seed"]][group]
    return scores if users is None else scores[scores.index.isin(users)]


def _seed_mean(cells, group, groups_by_seed) -> pd.Series:
    """Each user's NDCG@10 averaged over the seeds where the user is in ``group``."""
    frames = [_restrict(c, group, groups_by_seed) for c in cells]
    return pd.concat(frames, axis=1).mean(axis=1)


def _mean(values) -> float:
    return float(pd.Series(values, dtype=float).mean())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=seeds_argument, default=list(range(5)),
                        help="number of seeds, or a comma-separated list (default 5)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--pipelines", nargs="+", choices=PIPELINES, default=list(PIPELINES))
    parser.add_argument("--quick", action="store_true", help="fewer epochs (_llmers_grid)")
    parser.add_argument("--threads", type=int, default=_THREADS)
    parser.add_argument("--cache-dir", default=str(default_cache_dir()))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", UserWarning)  # truncated histories, dropped test rows

    encoder = SentenceEncoder(cache=LLMCache(args.cache_dir), device="cpu", verbose=0)
    data = SPEC.load()
    log = CellLog(RESULTS_DIR / f"{NAME}_cells.jsonl")
    cells, groups_by_seed = [], {}
    for seed in args.seeds:
        train, test = leave_last_out(data, seed)
        groups_by_seed[seed] = group_users(train, test)
        for model_name in args.models:
            for kind in args.pipelines:
                if model_name not in ONLY_FOR.get(kind, {model_name}):
                    continue
                key = f"{model_name}|{kind}|{seed}|quick={args.quick}"
                if key not in log:
                    record = run_cell(model_name, kind, seed, train, test, args, encoder)
                    log.add({"key": key, "model": model_name, "pipeline": kind,
                             "seed": seed, **record})
                    print(f"{key}: NDCG@10 {_mean(record['per_user_ndcg@10'].values()):.4f}"
                          f" (enhance {record['enhance_seconds']:.0f}s, fit "
                          f"{record['fit_seconds']:.0f}s)", flush=True)
                cells.append(log.get(key))
    summary = summarize(cells, groups_by_seed)
    write(summary, cells, args, encoder)


def write(summary: pd.DataFrame, cells: list[dict], args, encoder) -> None:
    import json

    config = {"dataset": SPEC.description, "text_columns": list(SPEC.text_columns),
              "seeds": args.seeds, "models": args.models, "pipelines": args.pipelines,
              "quick": args.quick, "threads": args.threads, "n_factors": n_factors(SPEC),
              "encoder": encoder.identity("embed")}
    RESULTS_DIR.mkdir(exist_ok=True)
    payload = {"config": config, "versions": versions(),
               "summary": summary.to_dict(orient="records"),
               "cells": [{k: v for k, v in c.items() if k != "per_user_ndcg@10"}
                         for c in cells]}
    (RESULTS_DIR / f"{NAME}.json").write_text(json.dumps(payload, indent=1, default=float))
    markdown = summary.to_markdown(index=False, floatfmt=".4f")
    (RESULTS_DIR / f"{NAME}.md").write_text(markdown + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
