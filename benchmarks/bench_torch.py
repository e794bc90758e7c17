"""The torch recommenders against implicit: speed per epoch and of recommend, and quality.

Run by hand (it is not a timed test)::

    .venv/bin/python benchmarks/bench_torch.py                 # speed and quality
    .venv/bin/python benchmarks/bench_torch.py --part speed --repeats 7
    .venv/bin/python benchmarks/bench_torch.py --part quality --seeds 5
    .venv/bin/python benchmarks/bench_torch.py --threads 1     # both libraries on 1 thread
    python benchmarks/bench_torch.py --device cuda             # on a GPU machine

**Speed** (ml-latest-small, or a synthetic data set of the same size when it cannot be
loaded): the time per epoch of ``BPRRecommender`` and of implicit's
``BayesianPersonalizedRanking`` with the same number of factors (64) on the same
interactions, and the time of ``recommend`` (top 10, seen items excluded) for every
user, fitted models of both. The two libraries alternate within each repeat, so a
busy machine slows both alike; the ratio of the medians is reported (< 1: torch is
faster). An epoch is timed as a whole fit of ``--epochs`` epochs divided by their
number (set-up included), and as its marginal cost, the difference between that fit
and a one-epoch fit over ``--epochs - 1`` (set-up excluded; the set-up is reported
too). Both use ``--threads`` threads (default: torch's setting).
With ``--device cuda`` the torch model is also timed on the GPU in the same run, and the
GPU's speed-up over the CPU is reported; ``--rows N`` times a synthetic data set of N
rows instead (the scale at which a GPU pays).

**Quality**: the protocol of ``bench_recommenders.py`` (``_protocol.py``: LeaveLastOut
with a seeded tie-break, full-catalogue ranking, training items excluded), ``--seeds``
seeds: BPR vs implicit BPR, LightGCN vs BPR, SASRec vs the non-sequential models, with
a paired per-user Wilcoxon test against implicit BPR.

Writes ``benchmarks/results/torch_speed.{json,md}`` and ``torch_quality.{json,md}``
(``torch_speed_cuda``, ``torch_quality_cuda`` with ``--device cuda``; ``--tag`` adds a
suffix of its own).
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial

import numpy as np
import pandas as pd
import torch
from _protocol import (
    RESULTS_DIR,
    leave_last_out,
    median,
    run_cell,
    seeds_argument,
    summarize,
    versions,
    write_results,
)
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from skllmers import InteractionData
from skllmers.datasets import load_movielens
from skllmers.recommenders import (
    ALSRecommender,
    BaseRecommender,
    BPRRecommender,
    EASERecommender,
    FactorModelMixin,
    LightGCNRecommender,
    PopularityRecommender,
    SASRecRecommender,
)

N_FACTORS = 64
BASELINE = "implicit BPR"
SEQUENTIAL = ("SASRec",)
# BPRRecommender trained like implicit's BPR (the recipe of its docstring's Notes): SGD
# one sample at a time (the compiled loop on a CPU), negatives drawn by popularity. The
# initial std (0.01) was chosen on validation rows (diagnose_bpr_gap.py).
IMPLICIT_STYLE = dict(optimizer="sgd", batch_size=1, negative_sampling="popularity",
                      learning_rate=0.01, weight_decay=0.01, init_std=0.01)
VARIANT_LABELS = {
    "cpu": "torch on cpu, Adam, batches of {batch_size}",
    "cuda": "torch on cuda, Adam, batches of {batch_size}",
    "cpu implicit-style": "skllmers on cpu, implicit-style (SGD per sample, numba-compiled, "
                          "n_jobs={threads})",
}


class ImplicitBPR(FactorModelMixin, BaseRecommender):
    """implicit's BPR as a skllmers recommender (its bias column is in the factors)."""

    def __init__(self, n_factors=N_FACTORS, iterations=100, num_threads=0, random_state=None):
        self.n_factors = n_factors
        self.iterations = iterations
        self.num_threads = num_threads
        self.random_state = random_state

    def _fit(self, X):
        model = implicit_bpr(self.n_factors, self.iterations, self.num_threads,
                             self.random_state)
        with threadpool_limits(1, "blas"):
            model.fit(X.to_csr(values="ones"), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)


def implicit_bpr(factors, iterations, num_threads, random_state):
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    return BayesianPersonalizedRanking(factors=factors, iterations=iterations,
                                       num_threads=num_threads, random_state=random_state)


def load_data() -> tuple[InteractionData, str]:
    try:
        return load_movielens("latest-small", verbose=False), "ml-latest-small"
    except (OSError, ValueError) as exc:
        print(f"ml-latest-small could not be loaded ({exc}); using synthetic data.")
        return synthetic_data(), "synthetic (610 users, 9,742 items, 100,836 rows)"


def synthetic_data(n_users=610, n_items=9742, n_rows=100_836, seed=0) -> InteractionData:
    """Zipf-popular items and lognormal user activity, the shape of ml-latest-small."""
    rng = np.random.default_rng(seed)
    item_p = 1.0 / np.arange(1, n_items + 1) ** 0.9
    user_p = rng.lognormal(0, 1, n_users)
    frame = pd.DataFrame({
        "user_id": rng.choice(n_users, n_rows, p=user_p / user_p.sum()),
        "item_id": rng.choice(n_items, n_rows, p=item_p / item_p.sum()),
        "t": np.arange(n_rows),
    }).drop_duplicates(["user_id", "item_id"])
    return InteractionData.from_pandas(frame, time_col="t")


# ---------------------------------------------------------------------- speed
def time_call(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def speed(data: InteractionData, repeats: int, epochs: int, threads: int,
          devices: list[str], batch_size: int) -> dict:
    """Median seconds of a BPR epoch (torch variants, implicit) and of recommend.

    Each repeat times a fit of ``epochs`` epochs and one of a single epoch, so an epoch
    is reported both as the whole fit over ``epochs`` (set-up included) and as the
    marginal cost ``(fit - one-epoch fit) / (epochs - 1)`` (set-up excluded).
    """
    csr = data.to_csr(values="ones")
    users = np.arange(data.n_users)
    fits = {}
    for name, params in torch_variants(devices, batch_size, threads).items():
        for n in (epochs, 1):
            fits[name, n] = BPRRecommender(n_factors=N_FACTORS, epochs=n, random_state=0,
                                           **params).fit
    theirs = {n: implicit_bpr(N_FACTORS, n, threads, 0) for n in (epochs, 1)}
    for n, model in theirs.items():
        fits["implicit", n] = partial(fit_implicit, model, csr)
    times = {f"{name} fit of {n}": [] for name, n in fits}
    times.update({"torch recommend": [], "implicit recommend": []})
    with threadpool_limits(threads, "blas"):  # numpy's and implicit's products alike
        for fit in fits.values():
            fit(data)  # warm-up: imports, compilation, thread pools, CUDA context
        served = BPRRecommender(n_factors=N_FACTORS, epochs=1, random_state=0).fit(data)
        for _ in tqdm(range(repeats), desc="speed repeats"):
            for (name, n), fit in fits.items():  # a torch fit ends in a copy to numpy
                times[f"{name} fit of {n}"].append(time_call(fit, data))
            times["torch recommend"].append(
                time_call(lambda: served.recommend(data.user_ids, k=10)))
            times["implicit recommend"].append(time_call(lambda: theirs[epochs].recommend(
                users, csr, N=10, filter_already_liked_items=True)))
    return summarize_speed(times, list(dict.fromkeys(name for name, _ in fits)), epochs)


def torch_variants(devices: list[str], batch_size: int, threads: int) -> dict:
    """The BPRRecommender configurations timed: Adam on every device, and on the CPU
    the implicit-style recipe (SGD one sample at a time, the compiled loop, on as many
    Hogwild threads as implicit gets)."""
    variants = {f"torch {device}": dict(batch_size=batch_size, device=device)
                for device in devices}
    variants["torch cpu implicit-style"] = dict(IMPLICIT_STYLE, device="cpu", n_jobs=threads)
    return variants


def fit_implicit(model, csr, data) -> None:
    """Fit implicit's ``model`` on ``csr`` (``data`` is the same rows, for torch)."""
    model.fit(csr, show_progress=False)


def summarize_speed(times: dict, names: list[str], epochs: int) -> dict:
    medians = {}
    for name in names:
        full = np.asarray(times[f"{name} fit of {epochs}"])
        one = np.asarray(times[f"{name} fit of 1"])
        marginal = (full - one) / max(epochs - 1, 1)
        medians[f"{name} epoch"] = median(full / epochs)
        medians[f"{name} marginal epoch"] = median(marginal)
        medians[f"{name} set-up"] = median(one - marginal)
    for name in ("torch recommend", "implicit recommend"):
        medians[name] = median(times[name])
    ratios = {}
    for name in names[:-1]:  # the last is implicit
        for kind in ("epoch", "marginal epoch"):
            ratios[f"{name} {kind} / implicit {kind}"] = (
                medians[f"{name} {kind}"] / medians[f"implicit {kind}"])
    ratios["recommend / implicit recommend"] = (medians["torch recommend"]
                                                / medians["implicit recommend"])
    if "torch cuda" in names:
        for kind in ("epoch", "marginal epoch"):
            ratios[f"cpu {kind} / cuda {kind} (GPU speed-up)"] = (
                medians[f"torch cpu {kind}"] / medians[f"torch cuda {kind}"])
    return {"medians_seconds": medians, "ratios": ratios, "all_seconds": times}


def speed_table(result: dict, config: dict) -> str:
    m, ratios = result["medians_seconds"], result["ratios"]
    rows = []
    for name in torch_variants(config["devices"], config["batch_size"], config["threads"]):
        label = VARIANT_LABELS.get(name.removeprefix("torch "), name).format(**config)
        rows.append((f"epoch of BPR, {label}: fit / epochs (s)",
                     m[f"{name} epoch"], m["implicit epoch"],
                     ratios[f"{name} epoch / implicit epoch"]))
        rows.append((f"epoch of BPR, {label}: marginal, set-up excluded (s)",
                     m[f"{name} marginal epoch"], m["implicit marginal epoch"],
                     ratios[f"{name} marginal epoch / implicit marginal epoch"]))
        rows.append((f"set-up of a fit, {label} (s)", m[f"{name} set-up"],
                     m["implicit set-up"], m[f"{name} set-up"] / m["implicit set-up"]))
    rows.append((f"recommend top-10, all {config['n_users']} users (s)",
                 m["torch recommend"], m["implicit recommend"],
                 ratios["recommend / implicit recommend"]))
    frame = pd.DataFrame(rows, columns=["median of " + str(config["repeats"]) + " repeats",
                                        "skllmers", "implicit (CPU)",
                                        "ratio torch/implicit"])
    table = frame.to_markdown(index=False, floatfmt=".4f")
    if "cuda" in config["devices"]:
        table += ("\n\nGPU speed-up of a BPR epoch over the CPU: "
                  f"{ratios['cpu epoch / cuda epoch (GPU speed-up)']:.1f}x (fit / epochs), "
                  f"{ratios['cpu marginal epoch / cuda marginal epoch (GPU speed-up)']:.1f}x "
                  "(marginal)")
    return table


# ---------------------------------------------------------------------- quality
def quality_models(seed: int, threads: int, device: str) -> dict:
    return {
        "Popularity": PopularityRecommender(),
        "EASE": EASERecommender(l2=200.0),
        "ALS": ALSRecommender(n_factors=N_FACTORS, random_state=seed),
        "implicit BPR": ImplicitBPR(num_threads=threads, random_state=seed),
        "BPR": BPRRecommender(n_factors=N_FACTORS, device=device, random_state=seed),
        "BPR, implicit-style": implicit_style_bpr(device, seed),
        "LightGCN": LightGCNRecommender(n_factors=N_FACTORS, device=device,
                                        random_state=seed),
        "SASRec": SASRecRecommender(n_factors=N_FACTORS, device=device, random_state=seed),
    }


def implicit_style_bpr(device: str, seed: int) -> BPRRecommender:
    """BPRRecommender trained like implicit's BPR, 100 epochs as implicit's default.

    On a GPU, one sample per step would be a dozen kernel launches per sample: there
    the recipe keeps the default batches (per-sample SGD steps summed over a batch).
    """
    params = dict(IMPLICIT_STYLE)
    if device != "cpu":
        params.pop("batch_size")
    return BPRRecommender(n_factors=N_FACTORS, epochs=100, device=device,
                          random_state=seed, **params)


def quality(data: InteractionData, seeds: list, threads: int, device: str,
            only) -> list[dict]:
    cells = []
    for seed in tqdm(seeds, desc="seeds"):
        train, test = leave_last_out(data, seed)
        for name, model in quality_models(seed, threads, device).items():
            if only and name not in only:
                continue
            cells.append({"model": name, "seed": seed, "params": model.get_params(),
                          **run_cell(model, train, test)})
    return cells


def claims(summary: pd.DataFrame) -> list[str]:
    ndcg = summary.set_index("model")["ndcg@10 mean"]
    lines = []

    def compare(a, b, text):
        if a in ndcg and b in ndcg:
            verdict = "holds" if ndcg[a] >= ndcg[b] else "does NOT hold"
            lines.append(f"- {text}: {a} {ndcg[a]:.4f} vs {b} {ndcg[b]:.4f} -> {verdict}")

    compare("BPR", "implicit BPR", "BPR >= implicit BPR")
    compare("BPR, implicit-style", "implicit BPR", "BPR (implicit-style) >= implicit BPR")
    compare("LightGCN", "BPR", "LightGCN >= BPR")
    others = [name for name in ndcg.index if name not in SEQUENTIAL]
    if "SASRec" in ndcg and others:
        best = max(others, key=lambda name: ndcg[name])
        compare("SASRec", best, "SASRec >= the best non-sequential model")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("speed", "quality", "all"), default="all")
    parser.add_argument("--repeats", type=int, default=5, help="speed repeats")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per timed fit (>= 2)")
    parser.add_argument("--batch-size", type=int, default=BPRRecommender().batch_size,
                        help="batch size of the timed BPRRecommender")
    parser.add_argument("--rows", type=int, default=None,
                        help="time a synthetic data set of this many rows instead")
    parser.add_argument("--seeds", type=seeds_argument, default=list(range(5)),
                        help="number of seeds, or a comma-separated list")
    parser.add_argument("--models", nargs="*", help="subset of the quality models")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of torch and implicit (default: torch's setting)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where the torch models train (cuda: speed is timed on "
                             "both the CPU and the GPU)")
    parser.add_argument("--tag", default="", help="suffix of the result files")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (an epoch's marginal cost is the "
                     "difference between a fit of --epochs epochs and one of 1).")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    suffix = ("_cuda" if args.device == "cuda" else "") + (f"_{args.tag}" if args.tag else "")
    RESULTS_DIR.mkdir(exist_ok=True)

    if args.part in ("speed", "all"):
        if args.rows:
            data = synthetic_data(n_users=args.rows // 100, n_items=args.rows // 200,
                                  n_rows=args.rows)
            dataset = f"synthetic ({data.n_users:,} users, {data.n_items:,} items, " \
                      f"{len(data):,} rows)"
        else:
            data, dataset = load_data()
        devices = ["cpu", "cuda"] if args.device == "cuda" else ["cpu"]
        config = {"dataset": dataset, "n_users": data.n_users, "n_rows": len(data),
                  "n_factors": N_FACTORS, "batch_size": args.batch_size,
                  "epochs_per_fit": args.epochs,
                  "repeats": args.repeats, "threads": threads, "devices": devices,
                  "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
                  "versions": versions()}
        result = speed(data, args.repeats, args.epochs, threads, devices, args.batch_size)
        table = speed_table(result, config)
        (RESULTS_DIR / f"torch_speed{suffix}.json").write_text(
            json.dumps({"config": config, **result}, indent=1))
        (RESULTS_DIR / f"torch_speed{suffix}.md").write_text(table + "\n")
        print(f"{dataset}; {threads} CPU threads; batch size {args.batch_size}")
        print(table)

    if args.part in ("quality", "all"):
        data, dataset = load_data()
        cells = quality(data, args.seeds, threads, args.device, args.models)
        baseline = BASELINE if not args.models or BASELINE in args.models else None
        summary = summarize(cells, baseline=baseline)
        config = {"dataset": dataset, "split": "LeaveLastOut(n=1, ties: seeded random)",
                  "seeds": args.seeds, "ranking": "full catalogue, train items excluded",
                  "threads": threads, "device": args.device,
                  "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None}
        write_results(f"torch_quality{suffix}", cells, summary, config)
        print("\n".join(claims(summary)))


if __name__ == "__main__":
    main()
