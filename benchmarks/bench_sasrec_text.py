"""Does item text lift a tuned SASRec? Test-set comparison on ml-latest-small.

Run (one thread; one fit per call, so two calls can run side by side)::

    nice python benchmarks/bench_sasrec_text.py --fit plain --seed 0
    nice python benchmarks/bench_sasrec_text.py --fit text --seed 0
    nice python benchmarks/bench_sasrec_text.py --fit shuffled --seed 0
    nice python benchmarks/bench_sasrec_text.py --report

Protocol: ``bench_text_lift.load_small`` (ml-latest-small, items with >= 5 ratings,
test = each user's last row by LeaveLastOut seed 0, validation = the last of the
remaining rows). ``--holdout 5`` holds out each user's last five rows instead (and
validates on the five before them), the powered re-test stated in
``results/sasrec_text_last5_protocol.md`` before it ran; its files are
``results/sasrec_text_last5*``. ``--fit ease`` adds plain EASE, its ``l2`` tuned on
validation, so the tests compare against the best plain model of the split, whichever
it is. Stage 2 of that protocol tunes plain SASRec and the text view on its validation
rows (``--validate plain|text --grid-index I`` over ``TUNING_GRID``), then ``--fit
plain_tuned|text_tuned|shuffled_tuned`` refits each winner; ``--fit summary_tuned`` is
the tuned text view on Qwen's item summaries (``write_item_summaries.py``) instead of the
template text, tested against the best plain model and against ``text_tuned``
(``results/text_lift_small_summaries_protocol.md``). Every stage-1 SASRec choice
was made on validation with
``benchmarks/diagnose_sasrec_text.py`` (see ``results/sasrec_text_diagnosis.md``):
``CONFIGS`` below holds the chosen configurations. Each is refitted on all training
rows (train + validation) and ranks all items for each test user, training items
excluded. ``shuffled`` is the text configuration with the item vectors permuted across
items (the lift must vanish if it is semantic).

Reported: NDCG@10 / Recall@20 means (each user's score averaged over the seeds fitted),
the paired Wilcoxon test of per-user NDCG@10 (``skllmers.metrics.paired_test``) of
text vs plain and shuffled vs plain, Holm-corrected over the rows, in three regimes
(``bench_text_lift._regimes``): all users, long-tail users (the third with the fewest
training rows), long-tail items (relevant items outside the 20% most popular). Each
fit's top-20 lists go to ``results/sasrec_text_test_cells.jsonl``; ``--report`` writes
``results/sasrec_text_test.{md,json}``.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import time
from pathlib import Path

import _threads  # noqa: F401  (sets the thread pools before numpy loads)
import numpy as np
import pandas as pd
import torch
from _protocol import git_state, read_jsonl, versions
from bench_text_lift import (
    SMALL_SUMMARIES,
    Evaluator,
    _holm,
    _regimes,
    ease_grid,
    encode,
    load_small,
    tune,
)
from diagnose_sasrec_text import variant_data

from skllmers.metrics import paired_test
from skllmers.recommenders import EASERecommender, SASRecRecommender
from skllmers.recommenders._torch import _embeddings

RESULTS = Path(__file__).parent / "results"

# Chosen on validation (results/sasrec_text_diagnosis.md); see that file for the grid.
# "text": the frozen text view (centred by the library) beside the ID embedding, the
# variant closest to plain at the end of training; "init20": PCA init, which peaks at
# epochs 10-25 on validation and then declines, stopped at 20 epochs.
CONFIGS = {
    "plain": {"variant": "plain", "params": {"epochs": 50}},
    "text": {"variant": "frozen", "params": {"epochs": 50}},
    "init20": {"variant": "init", "params": {"epochs": 20}},
    # ablations, not chosen on validation: the init fully trained, and the frozen view
    # without the centring this branch added (the library's scaling before it)
    "init50": {"variant": "init", "params": {"epochs": 50}},
    "text_uncentred": {"variant": "frozen", "params": {"epochs": 50}, "uncentred": True},
}
# Stage 2 of the --holdout 5 protocol (results/sasrec_text_last5_protocol.md): plain
# SASRec and the text view each tuned on validation, one change from the default at a
# time; "shuffled_tuned" is the text view's tuned configuration with permuted vectors.
TUNING_GRID = ({}, {"dropout": 0.5}, {"max_len": 200}, {"n_factors": 128},
               {"epochs": 100}, {"learning_rate": 1e-3})
TUNED = {"plain_tuned": "plain", "text_tuned": "text", "shuffled_tuned": "text",
         "summary_tuned": "text"}
# "summary_tuned": the tuned text view on Qwen's item summaries instead of the template
# text (results/text_lift_small_summaries_protocol.md); not re-tuned for them.
SUMMARY_FITS = ("summary_tuned",)
FITS = (*CONFIGS, "shuffled", "ease", *TUNED)
PLAIN = ("plain", "ease", "plain_tuned")


def stem(holdout: int) -> str:
    """Result file stem of a protocol: the original one-row test keeps its old names."""
    return "sasrec_text_test" if holdout == 1 else f"sasrec_text_last{holdout}"


def fit_one(which: str, seed: int, holdout: int) -> dict:
    summaries = SMALL_SUMMARIES if which in SUMMARY_FITS else None
    parts, texts, protocol = load_small(holdout, summaries)
    if which == "ease":
        return fit_ease(parts, protocol, seed)
    if which in TUNED:
        base = TUNED[which]
        spec = {"variant": CONFIGS[base]["variant"], "params": tuned_params(base, holdout)}
    else:
        spec = CONFIGS["text" if which == "shuffled" else which]
    vectors = encode("small", texts)["summary" if summaries else "title_genres"]
    if which.startswith("shuffled"):
        vectors = vectors[np.random.default_rng(0).permutation(len(vectors))]
    model, seconds = fit_sasrec(spec, parts["full_train"], vectors, seed)
    return test_cell(which, seed, spec, model, seconds, parts, protocol)


def test_cell(which: str, seed: int, spec: dict, model, seconds: float, parts: dict,
              protocol: dict) -> dict:
    """A fit's record: its top-20 list for each test user, training items excluded."""
    evaluator = Evaluator(parts["test"], [parts["full_train"]], protocol["goal_k"])
    return {"fit": which, "seed": seed, "config": spec, "seconds": seconds,
            "users": evaluator.users.tolist(), "top20": evaluator.top(model, 20).tolist(),
            "commit": git_state()["commit"]}


def fit_sasrec(spec: dict, train, vectors: np.ndarray, seed: int):
    """(SASRec fitted on ``train`` as ``spec`` says, fit seconds)."""
    params = dict(spec["params"])
    data, extra = variant_data(spec["variant"], train, vectors, params.get("n_factors", 64))
    model = SASRecRecommender(random_state=seed, device="cpu", **{**extra, **params})
    if spec.get("uncentred"):
        _embeddings._unit_scale = _unit_scale_uncentred  # ablation of the centring
    start = time.perf_counter()
    model.fit(data)
    return model, time.perf_counter() - start


def validate_one(which: str, index: int, holdout: int) -> dict:
    """One point of ``TUNING_GRID`` for ``plain`` or ``text``: fit on the training rows
    before validation, score NDCG@10 on the validation rows (seed 0)."""
    parts, texts, protocol = load_small(holdout)
    spec = {"variant": CONFIGS[which]["variant"],
            "params": {**CONFIGS[which]["params"], **TUNING_GRID[index]}}
    vectors = encode("small", texts)["title_genres"]
    model, seconds = fit_sasrec(spec, parts["train"], vectors, seed=0)
    valid = Evaluator(parts["valid"], [parts["train"]], protocol["goal_k"])
    return {"fit": which, "params": spec["params"], "valid_ndcg": valid.ndcg(model),
            "seconds": seconds, "commit": git_state()["commit"]}


def tuned_params(which: str, holdout: int) -> dict:
    """The validation winner of ``which`` over the whole grid (refuses a partial grid)."""
    path = RESULTS / f"{stem(holdout)}_validation.jsonl"
    mine = [c for c in read_jsonl(path) if c["fit"] == which]
    if len(mine) < len(TUNING_GRID):
        raise SystemExit(f"{which}: {len(mine)} of {len(TUNING_GRID)} grid points "
                         f"validated in {path}; run --validate for the rest first")
    return max(mine, key=lambda c: c["valid_ndcg"])["params"]


def fit_ease(parts: dict, protocol: dict, seed: int) -> dict:
    """Plain EASE, ``l2`` tuned on validation, refitted on all training rows."""
    valid = Evaluator(parts["valid"], [parts["train"]], protocol["goal_k"])
    params, _ = tune(EASERecommender, ease_grid(), parts["train"], valid, [], "EASE")
    start = time.perf_counter()
    model = EASERecommender(**params).fit(parts["full_train"])
    seconds = time.perf_counter() - start
    return test_cell("ease", seed, {"params": params}, model, seconds, parts, protocol)


def _unit_scale_uncentred(matrix):
    """The fixed-input scaling before centring: divide by the mean non-zero row norm."""
    if matrix is None:
        return None
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1)
    scale = norms[norms > 0].mean() if (norms > 0).any() else 1.0
    return torch.tensor(matrix / np.float32(scale))


def report(holdout: int) -> dict:
    cells = read_jsonl(RESULTS / f"{stem(holdout)}_cells.jsonl")
    parts, _, protocol = load_small(holdout)
    evaluator = Evaluator(parts["test"], [parts["full_train"]], protocol["goal_k"])
    regimes = _regimes(parts["full_train"], evaluator)
    fits = sorted({c["fit"] for c in cells}, key=FITS.index)
    per_user = {}
    for which in fits:
        mine = [c for c in cells if c["fit"] == which]
        per_user[which] = {}
        for regime, (mask, relevant) in regimes.items():
            rel = evaluator.relevant if relevant is None else relevant
            runs = []
            for c in mine:
                assert c["users"] == evaluator.users.tolist()
                keep = np.array([len(r) > 0 for r in rel])
                scores = Evaluator.per_user_of(np.asarray(c["top20"])[keep],
                                               [r for r in rel if len(r)])
                full = {m: np.full(len(rel), np.nan) for m in scores}
                for m, v in scores.items():
                    full[m][keep] = v
                runs.append(full)
            per_user[which][regime] = {m: _seed_mean([r[m] for r in runs])[mask]
                                       for m in runs[0]}
    tables = []
    for family, members in _families(fits).items():
        # The strongest plain model on test (not on validation): the harder baseline.
        best_plain = max(members["plain"],
                         key=lambda w: np.nanmean(per_user[w]["all users"]["ndcg@10"]))
        table = pd.DataFrame([
            _test_row(per_user, regime, which, best_plain, family)
            for regime in regimes for which in members["pipelines"]]
            + [_test_row(per_user, regime, which, twin, family)
               for regime in regimes for which, twin in members.get("twins", {}).items()])
        table["p_holm"] = _holm(table["p"].to_numpy())
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    means = {which: {f"{regime} {m}": float(np.nanmean(v))
                     for regime, metrics in per_user[which].items()
                     for m, v in metrics.items() if m in ("ndcg@10", "recall@20")}
             for which in fits}
    result = {"holdout": holdout, "configs": CONFIGS,
              "ease": [c["config"] for c in cells if c["fit"] == "ease"],
              "tuned": {w: c["config"] for c in cells for w in TUNED if c["fit"] == w},
              "seeds": {w: sorted(c["seed"] for c in cells
                                                      if c["fit"] == w) for w in fits},
              "fit_seconds": {w: [round(c["seconds"]) for c in cells if c["fit"] == w]
                              for w in fits},
              "means": means, "tests": table.to_dict(orient="records"),
              "commits": sorted({c["commit"] for c in cells}), "versions": versions()}
    (RESULTS / f"{stem(holdout)}.json").write_text(json.dumps(result, indent=1, default=float))
    flag = "" if holdout == 1 else f" --holdout {holdout}"
    lines = [
        "# SASRec with and without item text, test set (ml-latest-small LeaveLastOut, "
        f"last {holdout} row{'s' if holdout > 1 else ''} of each user)", "",
        f"`python benchmarks/bench_sasrec_text.py{flag} --fit "
        "{plain,text,init20,shuffled,ease} --seed S` "
        f"then `--report{flag}`; commits {result['commits']}; seeds {result['seeds']}; fit "
        f"seconds {result['fit_seconds']} (2 shared CPU cores, 1 thread a fit; "
        f"{'two fits side by side' if holdout > 1 else 'machine busy'}).",
        *([f"Stage 2: `--validate {{plain,text}} --grid-index I{flag}` for each grid "
           f"point, then `--fit {{{','.join(TUNED)}}} --seed S{flag}`."]
          if result["tuned"] else []), "",
        "Configurations (chosen on validation, `sasrec_text_diagnosis.md`): "
        f"`{json.dumps(CONFIGS)}`.", "",
        "## Test means (per-user scores averaged over seeds)", "",
        pd.DataFrame(means).T.to_markdown(floatfmt=".4f"), "",
        "## NDCG@10 of each fit (seed variance)", "",
        _per_seed(cells, evaluator, regimes).to_markdown(floatfmt=".4f"), "",
        f"EASE's l2, tuned on validation: {result['ease']}.", "",
        *_validation_lines(holdout),
        *([f"Tuned configurations (stage 2, chosen on validation): {result['tuned']}.",
           ""] if result["tuned"] else []),
        "## Paired Wilcoxon tests of per-user NDCG@10 against the best plain model on "
        "test (Holm within each family: the fixed configurations, and the stage-2 tuned "
        "ones, whose baseline includes tuned plain SASRec)", "",
        table.to_markdown(index=False, floatfmt=".4g"), "",
    ]
    notes = RESULTS / f"{stem(holdout)}_notes.md"
    if notes.exists():
        lines += [notes.read_text()]
    (RESULTS / f"{stem(holdout)}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return result


def _validation_lines(holdout: int) -> list:
    """Stage 2's validation grid as a markdown table (nothing before stage 2 ran)."""
    path = RESULTS / f"{stem(holdout)}_validation.jsonl"
    if not path.exists():
        return []
    frame = pd.DataFrame([{"model": c["fit"], "params": json.dumps(c["params"]),
                           "valid ndcg@10": c["valid_ndcg"], "fit s": round(c["seconds"])}
                          for c in read_jsonl(path)])
    return ["## Stage 2: the validation grid (seed 0)", "",
            frame.to_markdown(index=False, floatfmt=".4f"), ""]


def _families(fits: list) -> dict:
    """Test families: pipelines and the plain models they are compared with."""
    fixed = [w for w in fits if w not in PLAIN and w not in TUNED]
    tuned = [w for w in fits if w in TUNED and w not in PLAIN and w not in SUMMARY_FITS]
    summary = [w for w in fits if w in SUMMARY_FITS]
    plain_tuned = [w for w in PLAIN if w in fits]
    families = {"fixed": {"pipelines": fixed, "plain": [w for w in ("plain", "ease")
                                                        if w in fits]}}
    if tuned:
        families["tuned"] = {"pipelines": tuned, "plain": plain_tuned}
    if summary:  # its own family, so adding it leaves the earlier families' Holm as is
        families["summary"] = {"pipelines": summary, "plain": plain_tuned,
                               "twins": {w: "text_tuned" for w in summary
                                         if "text_tuned" in fits}}
    return {name: f for name, f in families.items() if f["pipelines"]}


def _test_row(per_user: dict, regime: str, which: str, baseline: str, family: str) -> dict:
    a = per_user[which][regime]["ndcg@10"]
    b = per_user[baseline][regime]["ndcg@10"]
    result = paired_test(a, b, random_state=0)
    return {"family": family, "regime": regime, "pipeline": which, "baseline": baseline,
            "n_users": result.n, "mean": result.mean_a, "baseline_mean": result.mean_b,
            "ratio": result.mean_a / result.mean_b if result.mean_b else np.nan,
            "ci_low": result.ci_low, "ci_high": result.ci_high, "p": result.pvalue}


def _seed_mean(runs: list) -> np.ndarray:
    """Each user's mean over the seeds (NaN where the user is outside the regime)."""
    stacked = np.asarray(runs)
    out = np.full(stacked.shape[1], np.nan)
    present = ~np.isnan(stacked).all(axis=0)
    out[present] = np.nanmean(stacked[:, present], axis=0)
    return out


def _per_seed(cells: list, evaluator: Evaluator, regimes: dict) -> pd.DataFrame:
    """NDCG@10 of every fit, all users and long-tail items: how much a seed moves it."""
    _, tail = regimes["long-tail items"]
    keep = np.array([len(r) > 0 for r in tail])
    table = {}
    for c in cells:
        top = np.asarray(c["top20"])
        row = table.setdefault(c["fit"], {})
        row[f"all, seed {c['seed']}"] = float(Evaluator.per_user_of(
            top, evaluator.relevant)["ndcg@10"].mean())
        row[f"tail items, seed {c['seed']}"] = float(Evaluator.per_user_of(
            top[keep], [r for r in tail if len(r)])["ndcg@10"].mean())
    frame = pd.DataFrame(table).T
    return frame[sorted(frame.columns, key=lambda name: (name.startswith("tail"), name))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", choices=FITS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validate", choices=("plain", "text"),
                        help="score one TUNING_GRID point on validation (stage 2)")
    parser.add_argument("--grid-index", type=int, default=0)
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--holdout", type=int, default=1,
                        help="test rows per user: 1 (the original protocol) or 5")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.fit:
        cell = fit_one(args.fit, args.seed, args.holdout)
        _append(RESULTS / f"{stem(args.holdout)}_cells.jsonl", cell)
        print(f"{args.fit} seed {args.seed}: {cell['seconds']:.0f} s", flush=True)
    if args.validate:
        cell = validate_one(args.validate, args.grid_index, args.holdout)
        _append(RESULTS / f"{stem(args.holdout)}_validation.jsonl", cell)
        print(f"{args.validate} {cell['params']}: valid NDCG@10 {cell['valid_ndcg']:.4f}, "
              f"{cell['seconds']:.0f} s", flush=True)
    if args.report:
        report(args.holdout)


def _append(path: Path, cell: dict) -> None:
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # two fits may finish at once
        f.write(json.dumps(cell) + "\n")


if __name__ == "__main__":
    main()
