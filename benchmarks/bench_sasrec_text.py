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
it is. Every SASRec choice was made on validation with
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
from _protocol import git_state, versions
from bench_text_lift import Evaluator, _holm, _regimes, encode, load_small
from diagnose_sasrec_text import variant_data

from skllmers.metrics import paired_test
from skllmers.recommenders import SASRecRecommender
from skllmers.recommenders._torch import _embeddings

RESULTS = Path(__file__).parent / "results"
PLAIN = ("plain", "ease")

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
FITS = (*CONFIGS, "shuffled", "ease")


def stem(holdout: int) -> str:
    """Result file stem of a protocol: the original one-row test keeps its old names."""
    return "sasrec_text_test" if holdout == 1 else f"sasrec_text_last{holdout}"


def fit_one(which: str, seed: int, holdout: int) -> dict:
    parts, texts, protocol = load_small(holdout)
    if which == "ease":
        return fit_ease(parts, protocol, seed)
    vectors = encode("small", texts)["title_genres"]
    spec = CONFIGS["text" if which == "shuffled" else which]
    if which == "shuffled":
        vectors = vectors[np.random.default_rng(0).permutation(len(vectors))]
    train = parts["full_train"]
    params = dict(spec["params"])
    data, extra = variant_data(spec["variant"], train, vectors, params.get("n_factors", 64))
    model = SASRecRecommender(random_state=seed, device="cpu", **{**extra, **params})
    start = time.perf_counter()
    if spec.get("uncentred"):
        _embeddings._unit_scale = _unit_scale_uncentred  # ablation of the centring
    model.fit(data)
    seconds = time.perf_counter() - start
    evaluator = Evaluator(parts["test"], [train], protocol["goal_k"])
    return {"fit": which, "seed": seed, "config": spec, "seconds": seconds,
            "users": evaluator.users.tolist(), "top20": evaluator.top(model, 20).tolist(),
            "commit": git_state()["commit"]}


def fit_ease(parts: dict, protocol: dict, seed: int) -> dict:
    """Plain EASE, ``l2`` tuned on validation, refitted on all training rows."""
    from bench_text_lift import ease_grid, tune

    from skllmers.recommenders import EASERecommender

    valid = Evaluator(parts["valid"], [parts["train"]], protocol["goal_k"])
    params, _ = tune(EASERecommender, ease_grid(), parts["train"], valid, [], "EASE")
    start = time.perf_counter()
    model = EASERecommender(**params).fit(parts["full_train"])
    seconds = time.perf_counter() - start
    test = Evaluator(parts["test"], [parts["full_train"]], protocol["goal_k"])
    return {"fit": "ease", "seed": seed, "config": {"params": params}, "seconds": seconds,
            "users": test.users.tolist(), "top20": test.top(model, 20).tolist(),
            "commit": git_state()["commit"]}


def _unit_scale_uncentred(matrix):
    """The fixed-input scaling before centring: divide by the mean non-zero row norm."""
    if matrix is None:
        return None
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1)
    scale = norms[norms > 0].mean() if (norms > 0).any() else 1.0
    return torch.tensor(matrix / np.float32(scale))


def report(holdout: int) -> dict:
    cells_path = RESULTS / f"{stem(holdout)}_cells.jsonl"
    cells = [json.loads(line) for line in cells_path.read_text().splitlines()
             if line.strip()]
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
    # The strongest plain model on test (not on validation): the harder baseline.
    best_plain = max((w for w in fits if w in PLAIN),
                     key=lambda w: np.nanmean(per_user[w]["all users"]["ndcg@10"]))
    rows = []
    for regime in regimes:
        for which in fits:
            if which in PLAIN:
                continue
            a = per_user[which][regime]["ndcg@10"]
            b = per_user[best_plain][regime]["ndcg@10"]
            result = paired_test(a, b, random_state=0)
            rows.append({"regime": regime, "pipeline": which, "baseline": best_plain,
                         "n_users": result.n, "mean": result.mean_a,
                         "baseline_mean": result.mean_b,
                         "ratio": result.mean_a / result.mean_b if result.mean_b else np.nan,
                         "ci_low": result.ci_low, "ci_high": result.ci_high,
                         "p": result.pvalue})
    table = pd.DataFrame(rows)
    table["p_holm"] = _holm(table["p"].to_numpy())
    means = {which: {f"{regime} {m}": float(np.nanmean(v))
                     for regime, metrics in per_user[which].items()
                     for m, v in metrics.items() if m in ("ndcg@10", "recall@20")}
             for which in fits}
    result = {"holdout": holdout, "best_plain": best_plain,
              "configs": CONFIGS, "ease": [c["config"] for c in cells if c["fit"] == "ease"],
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
        f"seconds {result['fit_seconds']} (2 shared CPU cores, 1 thread, machine busy).", "",
        "Configurations (chosen on validation, `sasrec_text_diagnosis.md`): "
        f"`{json.dumps(CONFIGS)}`.", "",
        "## Test means (per-user scores averaged over seeds)", "",
        pd.DataFrame(means).T.to_markdown(floatfmt=".4f"), "",
        "## NDCG@10 of each fit (seed variance)", "",
        _per_seed(cells, evaluator, regimes).to_markdown(floatfmt=".4f"), "",
        f"EASE's l2, tuned on validation: {result['ease']}.", "",
        f"## Paired Wilcoxon tests of per-user NDCG@10 against the best plain model "
        f"on test, {best_plain} (Holm over rows)", "",
        table.to_markdown(index=False, floatfmt=".4g"), "",
    ]
    notes = RESULTS / f"{stem(holdout)}_notes.md"
    if notes.exists():
        lines += [notes.read_text()]
    (RESULTS / f"{stem(holdout)}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return result


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
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--holdout", type=int, default=1,
                        help="test rows per user: 1 (the original protocol) or 5")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.fit:
        cell = fit_one(args.fit, args.seed, args.holdout)
        with (RESULTS / f"{stem(args.holdout)}_cells.jsonl").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # two fits may finish at once
            f.write(json.dumps(cell) + "\n")
        print(f"{args.fit} seed {args.seed}: {cell['seconds']:.0f} s", flush=True)
    if args.report:
        report(args.holdout)


if __name__ == "__main__":
    main()
