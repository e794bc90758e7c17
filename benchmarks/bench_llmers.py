"""LLMERS benchmark: every base model with and without each LLM enhancer, several seeds.

One command (documented in ``benchmarks/README.md``)::

    .venv/bin/python benchmarks/bench_llmers.py --datasets text_signal ml-latest-small \\
        --seeds 5 --out benchmarks/results/llmers

Grid: data sets (``make_text_signal``, the bundled ml-latest-small, and ml-100k / ml-1m
when already downloaded: they are never downloaded here, and skipped when absent) x
base models (Popularity, EASE, ALS, LightFM, BPR, LightGCN, SASRec) x enhancers
(``none``, each of ``augment`` = LLMInteractionAugmenter, ``features`` =
LLMSummaryFeaturizer, ``init`` = LLMEmbeddingInitializer, ``guidance`` =
GuidanceRegularizer alone, and ``best``: the combination picked on a validation split)
x seeds. An enhancer that a model cannot read is skipped and reported "n/a" with the
reason. See ``_llmers_grid.py`` for every parameter; all of them are written to the
output.

Protocol (``_protocol.py``): ``LeaveLastOut`` per seed (each user's last interaction by
time held out, ties broken by the seed; the seed also seeds the models), the pipeline
is fitted on the training rows only (so user-side LLM inputs never see a held-out row),
and scored on the held-out users: NDCG@10, Recall@20, HitRate@10 over all of them and
over the long tail (users whose held-out item is in the lowest popularity quintile of
the held-out items; users in the lowest quintile of training activity). Mean and std
over seeds; each enhancer against its own base model by a paired Wilcoxon test over
users of NDCG@10 averaged over seeds, with a bootstrap 95% interval of the lift.

``best``: for each (data set, model), on the first seed's training rows split again by
LeaveLastOut (validation = each user's second-to-last item), each applicable enhancer
is tried alone; then, greedily from the best one, the next is added while validation
NDCG@10 improves. The chosen stack is then scored on the test split of every seed. The
test split never takes part in the choice.

Costs per cell: LLM requests / cache hits / calls that reached the model, the same for
the text encoder, seconds of the enhancer steps' ``fit_transform`` (the LLM stage),
seconds of the recommender's ``fit``, recommend seconds per 1000 users and peak RSS.

Without ``--model`` there is no generative LLM: every enhancer runs in its
encoder-only mode (all-MiniLM-L6-v2 embeddings of item text). ``--model PATH.gguf``
lets a llama.cpp model write the user/item summaries and profiles and pick augmented
items (``llm_select``).

Resumable: every finished cell is one JSON line of ``OUT/cells.jsonl``, keyed by
(data set, model, enhancers, seed, split, hash of all parameters); a rerun skips them.
Outputs in ``OUT``: ``results.json`` (config, versions, summary, skipped cells),
``results.md`` (tables), ``lift.png`` and ``cost.png``.
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
    label,
    make_pipeline,
    model_params,
    ordered,
    why_not,
)
from _protocol import (
    CellLog,
    PeakMemory,
    backend_counters,
    compact_per_user,
    describe,
    git_state,
    leave_last_out,
    long_tail_groups,
    params_hash,
    per_user_quality,
)

TEST, VALIDATION = "test", "validation"


class Bench:
    """Runs (or reads back from the log) the cells of one invocation."""

    def __init__(self, args, log: CellLog, encoder, llm, dry: bool = False):
        self.args = args
        self.dry = dry  # read the log only: missing cells stay missing
        self.log = log
        self.encoder = encoder
        self.llm = llm
        self.planned: list[dict] = []  # this invocation's test cells: row, key
        self.skipped: list[dict] = []
        self.selections: list[dict] = []
        self.git = git_state()  # recorded in every cell this invocation runs
        self.identities = {name: _identity(backend)
                           for name, backend in (("encoder", encoder), ("llm", llm))}

    # ----------------------------------------------------------------- one cell
    def cell(self, spec, model: str, enhancers, seed: int, split: str, train, test,
             row: str | None = None) -> dict | None:
        args = self.args
        pipeline = make_pipeline(model, enhancers, spec, seed, quick=args.quick,
                                 threads=args.threads, encoder=self.encoder, llm=self.llm)
        description = {"pipeline": describe(pipeline)}
        name = label(enhancers)
        key = cell_key(spec.name, model, name, seed, split, description["pipeline"],
                       self.identities["llm"])
        if split == TEST:
            self.planned.append({"row": row or name, "key": key, "dataset": spec.name,
                                 "model": model, "seed": seed})
        if key in self.log or self.dry:
            return self.log.get(key)
        split_record = self.split_record(spec, seed, split, train, test)

        encoder_before, llm_before = backend_counters(self.encoder), backend_counters(self.llm)
        stage_seconds = {}
        with warnings.catch_warnings(), PeakMemory() as memory:
            warnings.simplefilter("ignore", UserWarning)
            data = train
            for step_name, step in pipeline.steps[:-1]:
                start = time.perf_counter()
                data = step.fit_transform(data)
                stage_seconds[step_name] = time.perf_counter() - start
            recommender = pipeline.steps[-1][1]
            start = time.perf_counter()
            recommender.fit(data)
            fit_seconds = time.perf_counter() - start
            encoder_after, llm_after = backend_counters(self.encoder), backend_counters(self.llm)
            quality = per_user_quality(pipeline, test)
            users = recommender.user_ids_[:1000]
            start = time.perf_counter()
            recommender.recommend(users, k=10)
            recommend_seconds = (time.perf_counter() - start) * 1000 / len(users)

        record = {
            "type": "cell", "key": key, "dataset": spec.name, "model": model,
            "enhancers": list(ordered(enhancers)), "label": name, "seed": seed,
            "split": split, "params": description["pipeline"],
            **self.quality_summary(quality, split_record),
            "llm_stage_seconds": sum(stage_seconds.values()),
            "stage_seconds": stage_seconds,
            "fit_seconds": fit_seconds,
            "recommend_seconds_per_1000_users": recommend_seconds,
            "rss_start_mb": memory.start_mb, "peak_rss_mb": memory.peak_mb,
            **{f"llm_{k}": llm_after[k] - llm_before.get(k, 0) for k in llm_after},
            **{f"encoder_{k}": encoder_after[k] - encoder_before.get(k, 0)
               for k in encoder_after},
            "extra": self.step_facts(pipeline),
            "git": self.git,
            "backends": self.identities,
            "per_user": self.sparse_per_user(quality, split_record),
        }
        self.log.add(record)
        print(f"  {spec.name:16s} {model:10s} {name:28s} seed {seed} {split:10s} "
              f"NDCG@10 {record['ndcg@10']:.4f}  LLM stage {record['llm_stage_seconds']:6.1f} s"
              f"  fit {fit_seconds:6.1f} s", flush=True)
        return record

    def split_record(self, spec, seed: int, split: str, train, test) -> dict:
        key = f"split|{spec.name}|seed={seed}|{split}"
        record = self.log.get(key)
        if record is None:
            groups = long_tail_groups(train, test)
            users = pd.Index(test.user_ids.take(np.unique(test.user_codes)))
            record = {"type": "split", "key": key, "dataset": spec.name, "seed": seed,
                      "split": split, "n_train_rows": len(train), "n_test_rows": len(test),
                      "test_users": [str(u) for u in users],
                      **{k: ([str(u) for u in v] if isinstance(v, list) else v)
                         for k, v in groups.items()}}
            self.log.add(record)
        return record

    @staticmethod
    def quality_summary(quality: pd.DataFrame, split_record: dict) -> dict:
        index = quality.index.astype(str)
        out = {f"{metric}": float(quality[metric].mean()) for metric in quality}
        out["n_users"] = len(quality)
        for group in ("tail_items", "tail_users"):
            members = index.isin(split_record[group])
            out[f"n_{group}"] = int(members.sum())
            for metric in quality:
                values = quality[metric].to_numpy()[members]
                out[f"{group} {metric}"] = float(values.mean()) if len(values) else float("nan")
        return out

    @staticmethod
    def sparse_per_user(quality: pd.DataFrame, split_record: dict) -> dict:
        """Per-user values, compactly (see ``_protocol.compact_per_user``)."""
        return compact_per_user(quality, split_record["test_users"])

    @staticmethod
    def step_facts(pipeline) -> dict:
        """What each enhancer did, from its fitted attributes."""
        facts = {}
        for name, step in pipeline.steps[:-1]:
            found = {}
            for attribute in ("n_added_", "n_dropped_", "n_users_sampled_",
                              "n_features_out_", "n_components_", "n_llm_prompts_"):
                if hasattr(step, attribute):
                    found[attribute] = int(getattr(step, attribute))
            facts[name] = found
        return facts

    # ----------------------------------------------------------------- best combination
    def select(self, spec, model: str, data, seed: int) -> tuple:
        """Greedy forward choice of enhancers on a validation split of seed's training rows."""
        train, _ = _split(data, seed)
        inner_train, validation = _split(train, seed)
        candidates = [kind for kind in ENHANCERS if applies(kind, model)]

        def score(enhancers):
            record = self.cell(spec, model, enhancers, seed, VALIDATION, inner_train,
                               validation)
            if record is None:
                raise LookupError  # dry run and this validation cell was never run
            return record["ndcg@10"]

        try:
            return self._greedy(spec, model, seed, candidates, score)
        except LookupError:
            return None

    def _greedy(self, spec, model, seed, candidates, score):
        scores = {"none": score(())}
        singles = {kind: score((kind,)) for kind in candidates}
        scores.update(singles)
        chosen, best = (), scores["none"]
        for kind in sorted(singles, key=singles.get, reverse=True):
            trial = ordered((*chosen, kind))
            value = scores.get(label(trial))
            if value is None:
                value = scores[label(trial)] = score(trial)
            if value > best:
                chosen, best = trial, value
        self.selections.append({"dataset": spec.name, "model": model, "seed": seed,
                                "validation_ndcg@10": scores, "chosen": label(chosen)})
        print(f"  {spec.name:16s} {model:10s} best on validation: {label(chosen)}", flush=True)
        return chosen

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
            for model in args.models:
                for kind in args.enhancers:
                    if kind in ENHANCERS and not applies(kind, model):
                        self.skipped.append({"dataset": name, "model": model,
                                             "enhancer": kind, "reason": why_not(kind, model)})
            best = {}
            if "best" in args.enhancers:
                for model in args.models:
                    chosen = self.select(spec, model, data, args.seeds[0])
                    if chosen is not None:
                        best[model] = chosen
            for seed in args.seeds:
                train, test = _split(data, seed)
                for model in args.models:
                    wanted = [("none", ())] if "none" in args.enhancers else []
                    wanted += [(kind, (kind,)) for kind in args.enhancers
                               if kind in ENHANCERS and applies(kind, model)]
                    if model in best:
                        wanted.append(("best", best[model]))
                    for row, enhancers in wanted:
                        self.cell(spec, model, enhancers, seed, TEST, train, test, row=row)


def cell_key(dataset: str, model: str, name: str, seed: int, split: str, pipeline: dict,
             llm_identity=None) -> str:
    """The log key of a cell: where it sits in the grid and a hash of every parameter."""
    description = {"pipeline": pipeline, "split": split, "split_seed": seed,
                   "dataset": dataset}
    if llm_identity is not None:  # the model file's fingerprint, not only its path
        description["llm_identity"] = llm_identity
    return f"{dataset}|{model}|{name}|seed={seed}|{split}|{params_hash(description)}"


def current_key(record: dict) -> str:
    """A logged record's key under this version's hashing rules (see ``params_hash``):
    a cell stores every parameter, so a rule that learns to ignore an inert parameter
    applies to the cells already run."""
    if record.get("type") != "cell" or "params" not in record:
        return record["key"]
    return cell_key(record["dataset"], record["model"], record["label"], record["seed"],
                    record["split"], record["params"],
                    (record.get("backends") or {}).get("llm"))


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
                        choices=sorted(DATASETS), help="data sets (MovieLens variants other "
                        "than latest-small only when already downloaded)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--enhancers", nargs="+", default=list(ENHANCER_CHOICES),
                        choices=ENHANCER_CHOICES,
                        help="'none' = the base model; 'best' = the combination chosen "
                        "on validation")
    parser.add_argument("--seeds", type=seeds_argument, default=list(range(5)),
                        help="number of seeds, or a comma-separated list")
    parser.add_argument("--quick", action="store_true", help="few epochs / iterations")
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
    if "none" not in args.enhancers and set(args.enhancers) - {"none"}:
        args.enhancers = ["none", *args.enhancers]  # lifts need the base model
    return args


def main(argv=None):
    from pathlib import Path

    import torch
    from _llmers_report import write_report

    from skllmers.llm import LlamaCppLLM, LLMCache, SentenceEncoder, default_cache_dir

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
           "threads": args.threads, "cells_before": _n_cells(log)}
    if not args.report_only:
        log.add(run)  # an interrupted run leaves this line without "seconds"
    bench.run()
    if not args.report_only:
        log.add({**run, "seconds": time.perf_counter() - start,
                 "cells_run": _n_cells(log) - run["cells_before"]})
    config = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "report_only": args.report_only,
        "datasets": {name: DATASETS[name].description for name in args.datasets},
        "text_columns": {name: list(DATASETS[name].text_columns) for name in args.datasets},
        "models": args.models, "enhancers": args.enhancers, "seeds": args.seeds,
        "quick": args.quick, "threads": args.threads,
        "split": "LeaveLastOut(n=1, drop_unseen=True, random_state=seed): each user's "
                 "last interaction by time held out, ties broken by the seed",
        "ranking": "full catalogue, the user's training items excluded",
        "llm": ({"backend": "LlamaCppLLM", "model_path": str(args.gguf),
                 "params": describe(llm), "identity": bench.identities["llm"]}
                if llm is not None else
                "none: no generative LLM was given (--model); every enhancer ran in its "
                "encoder-only mode"),
        "encoder": {"params": describe(encoder), "identity": bench.identities["encoder"]},
        "cache": str(args.cache_dir or default_cache_dir()),
        "model_params": {name: {m: model_params(m, DATASETS[name], args.quick, args.threads)
                                for m in args.models} for name in args.datasets},
        "long_tail": "tail items: held-out users whose held-out item is in the lowest "
                     "popularity quintile (training users per item) of the held-out "
                     "items, ties at the threshold included; tail users: the lowest "
                     "quintile of training activity (distinct items)",
        "significance": "Wilcoxon signed-rank test over held-out users of per-user "
                        "NDCG@10 averaged over seeds, enhancer vs its base model; 95% "
                        "interval of the lift by bootstrap over users",
        "best": "greedy forward selection on a LeaveLastOut validation split of the "
                "first seed's training rows (validation NDCG@10)",
        "git_at_report": bench.git,
    }
    write_report(out, log, bench, config)


if __name__ == "__main__":
    main()
