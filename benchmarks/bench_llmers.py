"""LLMERS benchmark, honest version: tuned baselines, Holm, shuffled-text controls, regimes.

One command (documented in ``benchmarks/README.md``)::

    .venv/bin/python benchmarks/bench_llmers.py --datasets text_signal ml-latest-small \\
        --seeds 3 --out benchmarks/results/llmers

Grid: data sets (``make_text_signal``, the bundled ml-latest-small, and ml-100k / ml-1m
when already downloaded: never downloaded here, skipped when absent) x base models
(Popularity, EASE, ALS, LightFM, BPR, LightGCN, SASRec) x text enhancers (``augment`` =
LLMInteractionAugmenter, ``features`` = LLMSummaryFeaturizer, ``init`` =
LLMEmbeddingInitializer, ``guidance`` = GuidanceRegularizer, ``semantic`` = EASE's text
prior (L3AE), ``fusion`` = TextFusionRecommender; and ``best``, the stack chosen on
validation) x seeds. An enhancer a model cannot read is reported "n/a" with the reason.
Every parameter is in ``_llmers_grid.py`` and written to the output.

Protocol
--------
1. Splits. Test: ``LeaveLastOut`` per seed (each user's last interaction by time held
   out, ties broken by the seed, which also seeds the models). Validation: the first
   seed's training rows split again by ``LeaveLastOut`` (each user's second-to-last
   item). The test rows never take part in a choice.
2. Tuning, on validation only: every base model over its small grid
   (``_llmers_grid.model_grid``); then, with the base fixed at its tuned values, each
   applicable enhancer over the grid of its key parameters (``enhancer_grid``; fusion's
   ``alpha`` costs one fit for all values); then ``best``: from the best tuned single
   enhancer, the next is added greedily while validation NDCG@10 improves. The best
   tuned plain model and the best text pipeline (over every model, singles and
   stacks) are also chosen on validation.
3. Test, every seed: each model's tuned base, each tuned enhancer, ``best``, and for
   every text pipeline a shuffled control: the same pipeline fitted on data whose item
   texts are permuted across items (Harte et al.: if the lift survives, it is not
   semantic). Regimes: warm (all held-out users), long-tail users (lowest quintile of
   training activity), long-tail items (held-out item in the lowest popularity
   quintile of the held-out items), and cold items: ``ColdItemSplit`` (20% of the items
   with all their rows held out; same seed), ranking among the cold items only, for
   the pipelines that can score an item with no row (features, init, semantic,
   fusion) and two floors, text-kNN and a random ranking. The cold regime reuses the
   warm-tuned parameters (no cold validation).
4. Tests: paired Wilcoxon over users of NDCG@10 (each user's mean over seeds) of every
   text pipeline against its own tuned base and against the best tuned plain model,
   and against its shuffled control; in the cold regime against text-kNN and against
   its shuffled control. Holm's correction over every test of a data set.
5. Goals (issue 13): the best pipeline chosen on validation reaches >= 1.03x the best
   tuned plain model's NDCG@10 (all users) with Holm p < 0.05; no pipeline chosen on
   validation (each model's ``best``) is significantly below its own base in a warm
   regime. Printed as met / not met.

Without ``--model`` there is no generative LLM: every enhancer runs in its encoder-only
mode (all-MiniLM-L6-v2 embeddings of item text). ``--model PATH.gguf`` lets a llama.cpp
model write the summaries and profiles and pick augmented items.

Resumable: every finished cell is one JSON line of ``OUT/cells.jsonl``, keyed by (data
set, model, enhancers, seed, split, control, hash of all parameters); a rerun skips them,
``--report-only`` runs nothing. Outputs in ``OUT``: ``results.json``, ``results.md``,
``results.rst`` and ``lift.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

from _threads import THREADS as _THREADS  # first: it sizes the thread pools

# isort: split
import numpy as np
import pandas as pd
from _llmers_grid import (
    DATASETS,
    ENHANCER_CHOICES,
    ENHANCERS,
    MODELS,
    applies,
    enhancer_grid,
    label,
    make_enhancer,
    make_pipeline,
    model_grid,
    model_params,
    ordered,
    reads_cold,
    why_not,
)
from _protocol import (
    CellLog,
    PeakMemory,
    backend_counters,
    cold_item_split,
    compact_per_user,
    describe,
    git_state,
    leave_last_out,
    long_tail_groups,
    params_hash,
    per_user_quality,
    shuffle_item_texts,
)
from sklearn.pipeline import Pipeline

TEST, VALIDATION, COLD = "test", "validation", "cold"
SHUFFLED = "shuffled"
#: Pseudo-models of the cold regime: floors that every cold pipeline must clear.
COLD_FLOORS = ("text-kNN", "random")


class Bench:
    """Runs (or reads back from the log) the cells of one invocation."""

    def __init__(self, args, log: CellLog, encoder, llm, dry: bool = False):
        self.args = args
        self.dry = dry  # read the log only: missing cells stay missing
        self.log = log
        self.encoder = encoder
        self.llm = llm
        self.planned: list[dict] = []  # this invocation's test/cold cells
        self.skipped: list[dict] = []
        self.selections: list[dict] = []  # what validation chose, with every score
        self.choices: dict[str, dict] = {}  # data set -> best plain / best pipeline
        self.git = git_state()
        self.identities = {name: _identity(backend)
                           for name, backend in (("encoder", encoder), ("llm", llm))}

    # ----------------------------------------------------------------- pipelines
    def pipeline(self, spec, model: str, config: dict, seed: int) -> Pipeline:
        if model == "text-kNN":
            from bench_cold_items import TextKNN

            text = make_enhancer("text", model, spec, seed, encoder=self.encoder, llm=self.llm)
            return Pipeline([("text", text), ("model", TextKNN())])
        if model == "random":
            from bench_cold_items import RandomRanking

            return Pipeline([("model", RandomRanking(random_state=seed))])
        return make_pipeline(model, config, spec, seed, threads=self.args.threads,
                             encoder=self.encoder, llm=self.llm)

    # ----------------------------------------------------------------- one cell
    def cell(self, spec, model: str, config: dict, seed: int, split: str, train, test, *,
             row: str | None = None, control: str | None = None,
             alphas=None) -> dict | None:
        """Fit one pipeline on ``train`` and score it on ``test`` (logged).

        ``alphas``: for a fusion pipeline, the alpha values to score from one fit;
        the record of each is logged, and that of ``config``'s own alpha returned.
        ``control="shuffled"``: the item texts are permuted across items first.
        """
        name = label(config.get("enhancers", {}))
        variants = [None] if alphas is None else list(alphas)
        pipeline = self.pipeline(spec, model, config, seed)
        keys = []
        for alpha in variants:
            if alpha is not None:
                pipeline.steps[-1][1].set_params(alpha=alpha)
            keys.append(cell_key(spec.name, model, name, seed, split, describe(pipeline),
                                 self.identities["llm"], control))
        wanted = keys[0] if alphas is None else keys[variants.index(
            config["enhancers"]["fusion"]["fusion__alpha"])]
        if split != VALIDATION:
            self.planned.append({"row": row or name, "key": wanted, "dataset": spec.name,
                                 "model": model, "seed": seed, "split": split,
                                 "control": control, "label": name})
        if all(key in self.log for key in keys) or self.dry:
            return self.log.get(wanted)
        split_record = self.split_record(spec, seed, split, train, test)
        fit_data = shuffle_item_texts(train, spec.text_columns, seed) if control else train
        candidates = "cold" if split == COLD else "all"

        encoder_before, llm_before = backend_counters(self.encoder), backend_counters(self.llm)
        stage_seconds = {}
        with warnings.catch_warnings(), PeakMemory() as memory:
            warnings.simplefilter("ignore", UserWarning)
            data = fit_data
            for step_name, step in pipeline.steps[:-1]:
                start = time.perf_counter()
                data = step.fit_transform(data)
                stage_seconds[step_name] = time.perf_counter() - start
            recommender = pipeline.steps[-1][1]
            start = time.perf_counter()
            recommender.fit(data)
            fit_seconds = time.perf_counter() - start
            encoder_after, llm_after = backend_counters(self.encoder), backend_counters(self.llm)
            qualities = []
            for alpha in variants:
                if alpha is not None:
                    recommender.set_params(alpha=alpha)
                qualities.append(per_user_quality(pipeline, test, candidates))
        common = {
            "type": "cell", "dataset": spec.name, "model": model,
            "enhancers": list(ordered(config.get("enhancers", {}))), "label": name,
            "seed": seed, "split": split, "control": control,
            "llm_stage_seconds": sum(stage_seconds.values()),
            "stage_seconds": stage_seconds, "fit_seconds": fit_seconds,
            "rss_start_mb": memory.start_mb, "peak_rss_mb": memory.peak_mb,
            **{f"llm_{k}": llm_after[k] - llm_before.get(k, 0) for k in llm_after},
            **{f"encoder_{k}": encoder_after[k] - encoder_before.get(k, 0)
               for k in encoder_after},
            "git": self.git, "backends": self.identities,
        }
        for alpha, key, quality in zip(variants, keys, qualities, strict=True):
            if alpha is not None:
                recommender.set_params(alpha=alpha)
            record = {**common, "key": key, "params": describe(pipeline),
                      **quality_summary(quality, split_record),
                      "per_user": compact_per_user(quality, split_record["test_users"])}
            self.log.add(record)
            print(f"  {spec.name:16s} {model:10s} {name:24s}"
                  f"{' ' + control if control else '':9s} seed {seed} {split:10s}"
                  f"{f' alpha {alpha}' if alpha is not None else ''}"
                  f" NDCG@10 {record['ndcg@10']:.4f}  text stage "
                  f"{record['llm_stage_seconds']:5.1f} s  fit {fit_seconds:6.1f} s",
                  flush=True)
        return self.log.get(wanted)

    def split_record(self, spec, seed: int, split: str, train, test) -> dict:
        key = f"split|{spec.name}|seed={seed}|{split}"
        record = self.log.get(key)
        if record is None:
            users = pd.Index(test.user_ids.take(np.unique(test.user_codes)))
            record = {"type": "split", "key": key, "dataset": spec.name, "seed": seed,
                      "split": split, "n_train_rows": len(train), "n_test_rows": len(test),
                      "test_users": [str(u) for u in users]}
            if split == COLD:
                record["n_cold_items"] = int(len(np.unique(test.item_codes)))
            else:
                groups = long_tail_groups(train, test)
                record.update({k: ([str(u) for u in v] if isinstance(v, list) else v)
                               for k, v in groups.items()})
            self.log.add(record)
        return record

    # ----------------------------------------------------------------- tuning
    def tune(self, spec, model: str, inner, validation, seed: int) -> dict | None:
        """The configurations chosen on validation: ``{"none": ..., kind: ..., "best":
        ...}``, each ``{"config": ..., "validation": NDCG@10}``; None in a dry run
        whose validation cells were never run."""
        def score(config, alphas=None):
            record = self.cell(spec, model, config, seed, VALIDATION, inner, validation,
                               alphas=alphas)
            if record is None:
                raise LookupError
            return record["ndcg@10"]

        try:
            return self._tune(spec, model, score)
        except LookupError:
            return None

    def _tune(self, spec, model, score):
        scores = {}
        for point in model_grid(model, spec):
            scores[_json(point)] = (score({"base": point}), point)
        value, base = max(scores.values(), key=lambda v: v[0])
        chosen = {"none": {"config": {"base": base}, "validation": value}}
        log = {"dataset": spec.name, "model": model, "base_grid": [
            {"params": p, "validation_ndcg@10": v} for v, p in scores.values()],
            "base": base, "enhancers": {}}
        for kind in self.args.enhancers:
            if kind not in ENHANCERS or not applies(kind, model):
                continue
            grid = enhancer_grid(kind, model, spec)
            tried = []
            if kind == "fusion":  # one fit, every alpha
                alphas = [p["fusion__alpha"] for p in grid]
                for point in grid:
                    config = {"base": base, "enhancers": {kind: point}}
                    tried.append((score(config, alphas=alphas), point))
            else:
                for point in grid:
                    tried.append((score({"base": base, "enhancers": {kind: point}}), point))
            value, point = max(tried, key=lambda v: v[0])
            chosen[kind] = {"config": {"base": base, "enhancers": {kind: point}},
                            "validation": value}
            log["enhancers"][kind] = {"grid": [{"params": p, "validation_ndcg@10": v}
                                               for v, p in tried], "chosen": point}
        if "best" in self.args.enhancers:
            chosen["best"] = self._greedy(chosen, score)
            log["best"] = {"stack": label(chosen["best"]["config"].get("enhancers", {})),
                           "validation_ndcg@10": chosen["best"]["validation"]}
        self.selections.append(log)
        print(f"  {spec.name:16s} {model:10s} tuned: base {base}; best on validation: "
              f"{log.get('best', {}).get('stack', '-')}", flush=True)
        return chosen

    @staticmethod
    def _greedy(chosen, score):
        singles = {k: v for k, v in chosen.items() if k != "none"}
        best = chosen["none"]
        stack = {}
        for kind in sorted(singles, key=lambda k: singles[k]["validation"], reverse=True):
            trial = {**stack, kind: singles[kind]["config"]["enhancers"][kind]}
            config = {"base": chosen["none"]["config"]["base"], "enhancers": trial}
            value = singles[kind]["validation"] if not stack else score(config)
            if value > best["validation"]:
                stack, best = trial, {"config": config, "validation": value}
        return best

    # ----------------------------------------------------------------- the grid
    def run(self):
        args = self.args
        for name in args.datasets:
            spec = DATASETS[name]
            try:
                data = spec.load()
            except FileNotFoundError as error:
                self.skipped.append({"dataset": name, "reason": f"not downloaded: {error}"})
                print(f"skipping {name}: not downloaded ({error})", flush=True)
                continue
            print(f"{name}: {data.n_users} users, {data.n_items} items, {len(data)} rows",
                  flush=True)
            self.run_dataset(spec, data)

    def run_dataset(self, spec, data):
        args = self.args
        for model in args.models:
            for kind in args.enhancers:
                if kind in ENHANCERS and not applies(kind, model):
                    self.skipped.append({"dataset": spec.name, "model": model,
                                         "enhancer": kind, "reason": why_not(kind, model)})
        train, _ = _split(data, args.seeds[0])
        inner, validation = _split(train, args.seeds[0])
        tuned = {}
        for model in args.models:
            chosen = self.tune(spec, model, inner, validation, args.seeds[0])
            if chosen is not None:
                tuned[model] = chosen
        self.choices[spec.name] = choose_overall(tuned)
        for seed in args.seeds:
            train, test = _split(data, seed)
            for model, chosen in tuned.items():
                for row, entry in chosen.items():
                    config = entry["config"]
                    self.cell(spec, model, config, seed, TEST, train, test, row=row)
                    if config.get("enhancers"):
                        self.cell(spec, model, config, seed, TEST, train, test, row=row,
                                  control=SHUFFLED)
            if args.cold and seed in args.seeds[:args.cold_seeds]:
                self.run_cold(spec, data, tuned, seed)

    def run_cold(self, spec, data, tuned, seed):
        train, test = cold_item_split(data, seed)
        for floor in COLD_FLOORS:
            self.cell(spec, floor, {}, seed, COLD, train, test, row="none")
        for model, chosen in tuned.items():
            for row, entry in chosen.items():
                config = entry["config"]
                if not reads_cold(config.get("enhancers", {})):
                    continue
                for control in (None, SHUFFLED):
                    self.cell(spec, model, config, seed, COLD, train, test, row=row,
                              control=control)


def choose_overall(tuned: dict) -> dict:
    """The best tuned plain model and the best text pipeline, both by validation."""
    plain = max(tuned, key=lambda m: tuned[m]["none"]["validation"], default=None)
    pipelines = [(entry["validation"], model, row) for model, chosen in tuned.items()
                 for row, entry in chosen.items()
                 if row != "none" and entry["config"].get("enhancers")]
    best = max(pipelines, default=None)
    return {"best_plain": plain,
            "best_plain_validation": tuned[plain]["none"]["validation"] if plain else None,
            "best_pipeline": None if best is None else {"model": best[1], "row": best[2]},
            "best_pipeline_validation": None if best is None else best[0]}


def quality_summary(quality: pd.DataFrame, split_record: dict) -> dict:
    index = quality.index.astype(str)
    out = {metric: float(quality[metric].mean()) for metric in quality}
    out["n_users"] = len(quality)
    for group in ("tail_items", "tail_users"):
        if group not in split_record:
            continue
        members = index.isin(split_record[group])
        out[f"n_{group}"] = int(members.sum())
        for metric in quality:
            values = quality[metric].to_numpy()[members]
            out[f"{group} {metric}"] = float(values.mean()) if len(values) else float("nan")
    return out


def cell_key(dataset: str, model: str, name: str, seed: int, split: str, pipeline: dict,
             llm_identity=None, control=None) -> str:
    """The log key of a cell: where it sits in the grid and a hash of every parameter."""
    description = {"pipeline": pipeline, "split": split, "split_seed": seed,
                   "dataset": dataset}
    if llm_identity is not None:  # the model file's fingerprint, not only its path
        description["llm_identity"] = llm_identity
    if control is not None:
        description["control"] = control
    suffix = f"|{control}" if control else ""
    return f"{dataset}|{model}|{name}|seed={seed}|{split}{suffix}|{params_hash(description)}"


def current_key(record: dict) -> str:
    """A logged record's key under this version's hashing rules (see ``params_hash``)."""
    if record.get("type") != "cell" or "params" not in record:
        return record["key"]
    return cell_key(record["dataset"], record["model"], record["label"], record["seed"],
                    record["split"], record["params"],
                    (record.get("backends") or {}).get("llm"), record.get("control"))


def _json(value) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def _identity(backend):
    """What determines a backend's results (model file fingerprint and settings)."""
    if backend is None or not callable(getattr(backend, "identity", None)):
        return None
    return backend.identity()


def _n_cells(log) -> int:
    return sum(r.get("type") == "cell" for r in log.records.values())


def _split(data, seed: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LeaveLastOut's note on dropped cold test rows
        return leave_last_out(data, seed)


def parse_args(argv=None):
    from _protocol import seeds_argument

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["text_signal", "ml-latest-small"],
                        choices=list(DATASETS), help="data sets (MovieLens variants other "
                        "than latest-small only when already downloaded)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--enhancers", nargs="+", default=list(ENHANCER_CHOICES),
                        choices=ENHANCER_CHOICES,
                        help="'none' = the tuned base model (always run); 'best' = the "
                        "stack chosen on validation")
    parser.add_argument("--seeds", type=seeds_argument, default=list(range(3)),
                        help="number of seeds, or a comma-separated list")
    parser.add_argument("--no-cold", dest="cold", action="store_false",
                        help="skip the cold-item regime")
    parser.add_argument("--cold-seeds", type=int, default=None, metavar="N",
                        help="run the cold-item regime on the first N seeds only "
                        "(default: all)")
    parser.add_argument("--model", dest="gguf", metavar="PATH.gguf",
                        help="a llama.cpp model for the generative LLM steps (default: "
                        "encoder-only enhancers, no LLM)")
    parser.add_argument("--out", default="benchmarks/results/llmers",
                        help="output folder (its cells.jsonl makes the run resumable)")
    parser.add_argument("--threads", type=int, default=_THREADS,
                        help="CPU threads for torch, BLAS, ALS, LightFM and llama.cpp")
    parser.add_argument("--cache-dir", default=None, help="LLM/encoder cache folder "
                        "(default: $SKLLMERS_CACHE_DIR or ~/.cache/skllmers)")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing; rebuild the tables and plots from cells.jsonl")
    args = parser.parse_args(argv)
    if "none" not in args.enhancers:
        args.enhancers = ["none", *args.enhancers]  # lifts need the base model
    return args


def config_of(args, bench) -> dict:
    from pathlib import Path

    from skllmers.llm import default_cache_dir

    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "report_only": args.report_only,
        "datasets": {name: DATASETS[name].description for name in args.datasets},
        "text_columns": {name: list(DATASETS[name].text_columns) for name in args.datasets},
        "models": args.models, "enhancers": args.enhancers, "seeds": args.seeds,
        "cold": args.cold, "cold_seeds": args.seeds[:args.cold_seeds] if args.cold else [],
        "threads": args.threads,
        "split": "LeaveLastOut(n=1, drop_unseen=True, random_state=seed): each user's "
                 "last interaction by time held out, ties broken by the seed",
        "validation": "LeaveLastOut(random_state=first seed) on the first seed's "
                      "training rows; every choice (base grid, enhancer grid, best "
                      "stack, best plain model, best pipeline) by validation NDCG@10",
        "cold_split": "ColdItemSplit(test_size=0.2, random_state=seed), ranking among "
                      "the cold items (candidates='cold'); warm-tuned parameters",
        "ranking": "full catalogue, the user's training items excluded",
        "control": "shuffled: the pipeline refitted on data whose item text columns are "
                   "permuted across items (numpy default_rng(seed).permutation)",
        "llm": ({"backend": "LlamaCppLLM", "model_path": str(args.gguf),
                 "params": describe(bench.llm), "identity": bench.identities["llm"]}
                if bench.llm is not None else
                "none: no generative LLM was given (--model); every enhancer ran in its "
                "encoder-only mode (all-MiniLM-L6-v2)"),
        "encoder": {"params": describe(bench.encoder),
                    "identity": bench.identities["encoder"]},
        "cache": str(args.cache_dir or default_cache_dir()),
        "model_defaults": {name: {m: model_params(m, DATASETS[name], args.threads)
                                  for m in args.models} for name in args.datasets},
        "model_grids": {name: {m: model_grid(m, DATASETS[name]) for m in args.models}
                        for name in args.datasets},
        "enhancer_grids": {name: {m: {k: enhancer_grid(k, m, DATASETS[name])
                                      for k in ENHANCERS if applies(k, m)}
                                  for m in args.models} for name in args.datasets},
        "long_tail": "tail items: held-out users whose held-out item is in the lowest "
                     "popularity quintile (training users per item) of the held-out "
                     "items, ties at the threshold included; tail users: the lowest "
                     "quintile of training activity (distinct items)",
        "significance": "Wilcoxon signed-rank test over held-out users of per-user "
                        "NDCG@10 averaged over seeds; Holm's correction over every test "
                        "of a data set; 95% bootstrap interval of the lift",
        "git_at_report": bench.git,
    }


def main(argv=None):
    from pathlib import Path

    import torch
    from _llmers_report import write_report

    from skllmers.llm import LlamaCppLLM, LLMCache, SentenceEncoder

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    log = CellLog(out / "cells.jsonl", rekey=current_key)
    cache = LLMCache(args.cache_dir) if args.cache_dir else True
    encoder = SentenceEncoder(device="cpu", cache=cache, verbose=0)
    llm = None
    if args.gguf:
        llm = LlamaCppLLM(args.gguf, n_ctx=2048, max_tokens=96, n_threads=args.threads,
                          n_gpu_layers=0, cache=cache, verbose=0)
    bench = Bench(args, log, encoder, llm, dry=args.report_only)
    start = time.perf_counter()
    run = {"type": "run", "key": f"run|{time.strftime('%Y-%m-%dT%H:%M:%S')}",
           "command": " ".join([Path(sys.executable).name, *sys.argv]),
           "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "git": bench.git,
           "threads": args.threads, "cells_before": _n_cells(log),
           "load_average": _load()}
    if not args.report_only:
        log.add(run)  # an interrupted run leaves this line without "seconds"
    bench.run()
    if not args.report_only:
        log.add({**run, "seconds": time.perf_counter() - start,
                 "cells_run": _n_cells(log) - run["cells_before"],
                 "load_average_end": _load()})
    write_report(out, log, bench, config_of(args, bench))


def _load():
    import os

    try:
        return list(os.getloadavg())
    except OSError:
        return None


if __name__ == "__main__":
    main()
