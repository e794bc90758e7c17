"""Tables and plots of the LLMERS benchmark, from the cells of its log."""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import pandas as pd
from _llmers_grid import ENHANCERS, why_not
from _protocol import METRICS, expand_per_user, versions

from skllmers.metrics import paired_test

ROWS = ("none", *ENHANCERS, "best")
GROUPS = {"all": "all held-out users", "tail_items": "long-tail items",
          "tail_users": "long-tail users"}
COSTS = ("llm_requests", "llm_cache_hits", "llm_calls", "encoder_requests",
         "encoder_cache_hits", "encoder_calls", "llm_stage_seconds", "fit_seconds",
         "recommend_seconds_per_1000_users", "peak_rss_mb")


def _column(group: str, metric: str) -> str:
    return metric if group == "all" else f"{group} {metric}"


# ------------------------------------------------------------------------- per-user values
_EXPANDED: dict = {}  # cell key -> its per-user table


def per_user(cell: dict, split: dict, metric: str = "ndcg@10", group: str = "all") -> pd.Series:
    """A cell's per-user ``metric`` (zeros restored), restricted to ``group``'s users."""
    key = cell["key"]
    if key not in _EXPANDED:
        _EXPANDED[key] = expand_per_user(cell["per_user"], split["test_users"])
    values = _EXPANDED[key][metric]
    if group != "all":
        values = values[values.index.isin(split[group])]
    return values


def _seed_mean(cells, splits, metric, group) -> pd.Series:
    """Per-user mean over seeds (a user counts in the seeds where it is in ``group``)."""
    frame = pd.concat([per_user(c, splits[c["dataset"], c["seed"]], metric, group)
                       for c in cells], axis=1)
    # Rounded: means of the same values in another order differ in the last bit, and
    # the Wilcoxon test would count such a difference as a (tiny) win or loss.
    return frame.mean(axis=1, skipna=True).round(9)


def paired_lift(cells, base_cells, splits, metric="ndcg@10", group="all") -> dict:
    seeds = sorted({c["seed"] for c in cells} & {c["seed"] for c in base_cells})
    cells = [c for c in cells if c["seed"] in seeds]
    base_cells = [c for c in base_cells if c["seed"] in seeds]
    if not cells:
        return {}
    a, b = _seed_mean(cells, splits, metric, group), _seed_mean(base_cells, splits, metric, group)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = paired_test(a, b, method="wilcoxon", random_state=0)
    except ValueError:
        return {}
    scale = result.mean_b if result.mean_b else float("nan")
    return {"lift": result.relative_difference, "lift_ci_low": result.ci_low / scale,
            "lift_ci_high": result.ci_high / scale, "p": result.pvalue, "n_paired": result.n}


# ------------------------------------------------------------------------- summary
def summarize(log, bench) -> tuple[pd.DataFrame, list]:
    records = log.records
    splits = {(r["dataset"], r["seed"]): r for r in records.values()
              if r.get("type") == "split" and r["split"] == "test"}
    planned = pd.DataFrame(bench.planned)
    missing = []
    rows = []
    if planned.empty:
        return pd.DataFrame(), missing
    for (dataset, model), entries in planned.groupby(["dataset", "model"], sort=False):
        cells_by_row = {}
        for row, group in entries.groupby("row", sort=False):
            found = [records[k] for k in group["key"] if k in records]
            missing += [k for k in group["key"] if k not in records]
            if found:
                cells_by_row[row] = found
        base = cells_by_row.get("none", [])
        for row in ROWS:
            cells = cells_by_row.get(row)
            if not cells:
                continue
            frame = pd.DataFrame(cells)
            summary = {"dataset": dataset, "model": model, "enhancer": row,
                       "stack": cells[0]["label"], "seeds": len(cells),
                       "n_users": int(frame["n_users"].mean()),
                       "n_tail_items": int(frame["n_tail_items"].mean()),
                       "n_tail_users": int(frame["n_tail_users"].mean())}
            for group in GROUPS:
                for metric in METRICS:
                    column = _column(group, metric)
                    summary[f"{column} mean"] = frame[column].mean()
                    summary[f"{column} std"] = frame[column].std(ddof=1) if len(frame) > 1 else 0.0
                if row != "none" and base:
                    for key, value in paired_lift(cells, base, splits, "ndcg@10", group).items():
                        summary[f"{_column(group, 'ndcg@10')} {key}"] = value
            for cost in COSTS:
                if cost in frame:
                    summary[cost] = (frame[cost].max() if cost == "peak_rss_mb"
                                     else frame[cost].mean())
            rows.append(summary)
    return pd.DataFrame(rows), missing


# ------------------------------------------------------------------------- markdown
def _fmt(value, digits=4):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}f}"


def _lift(row, column) -> str:
    lift = row.get(f"{column} lift")
    if lift is None or pd.isna(lift):
        return ""
    text = f"{100 * lift:+.1f}%"
    low, high = row.get(f"{column} lift_ci_low"), row.get(f"{column} lift_ci_high")
    if low is not None and not pd.isna(low):
        text += f" [{100 * low:+.0f}, {100 * high:+.0f}]"
    return text


def _p(row, column) -> str:
    p = row.get(f"{column} p")
    if p is None or pd.isna(p):
        return ""
    return f"{p:.3f}" + (" *" if p < 0.05 else "")


def _na_reasons(bench, dataset):
    return {(s["model"], s["enhancer"]): s["reason"] for s in bench.skipped
            if s.get("dataset") == dataset and "model" in s}


def compact_pivot(table: pd.DataFrame, bench, dataset: str):
    """The enhancer columns present, and per model the lines of each cell: NDCG@10
    mean ± std, then (enhancers) the lift and p, then (``best``) the stack."""
    na = _na_reasons(bench, dataset)
    models = list(dict.fromkeys(table["model"]))
    present = [r for r in ROWS if r in set(table["enhancer"]) or
               any((m, r) in na for m in models)]
    pivot = []
    for model in models:
        cells = []
        for row in present:
            match = table[(table["model"] == model) & (table["enhancer"] == row)]
            if match.empty:
                cells.append(["n/a" if (model, row) in na else ""])
                continue
            r = match.iloc[0].to_dict()
            lines = [f"{r['ndcg@10 mean']:.4f} ± {r['ndcg@10 std']:.4f}"]
            if row != "none":
                lines.append(f"{_lift(r, 'ndcg@10').split(' [')[0]} p={_p(r, 'ndcg@10')}")
            if row == "best":
                lines.append(f"= {r['stack']}")
            cells.append(lines)
        pivot.append((model, cells))
    return present, pivot


def restructuredtext(summary: pd.DataFrame, bench, config: dict) -> str:
    """The compact NDCG@10 pivot of each data set as RST list-tables (for the docs)."""
    lines = []
    for dataset, table in summary.groupby("dataset", sort=False):
        present, pivot = compact_pivot(table, bench, dataset)
        seeds = int(table["seeds"].max())
        lines += [f".. list-table:: {dataset}: NDCG@10 (mean ± std over {seeds} seeds), "
                  "lift over the model alone and paired Wilcoxon p (* p < 0.05)",
                  "   :header-rows: 1", "", "   * - model"]
        lines += [f"     - {name}" for name in present]
        for model, cells in pivot:
            lines.append(f"   * - {model}")
            for cell in cells:
                if cell == [""]:
                    lines.append("     -")
                    continue
                lines.append(f"     - | {cell[0]}")
                lines += [f"       | {line}" for line in cell[1:]]
        lines.append("")
    return "\n".join(lines)


def markdown(summary: pd.DataFrame, bench, config: dict) -> str:
    lines = []
    for dataset, table in summary.groupby("dataset", sort=False):
        seeds = int(table["seeds"].max())
        lines += [f"### {dataset}", "",
                  f"{config['datasets'][dataset]}; {seeds} seed(s), "
                  f"{'--quick' if config['quick'] else 'full'} training; "
                  f"{int(table['n_users'].max())} held-out users, "
                  f"{int(table['n_tail_items'].max())} with a long-tail item, "
                  f"{int(table['n_tail_users'].max())} long-tail users. "
                  "Lift: relative NDCG@10 change over the same model without enhancer "
                  "[bootstrap 95% interval]; p: paired Wilcoxon over users "
                  "(* p < 0.05).", ""]
        na = _na_reasons(bench, dataset)
        # 1. compact pivot: NDCG@10 and its lift
        present, pivot = compact_pivot(table, bench, dataset)
        lines.append("| model | " + " | ".join(present) + " |")
        lines.append("|:--|" + "--:|" * len(present))
        for model, cells in pivot:
            lines.append(f"| {model} | " + " | ".join("<br>".join(c) for c in cells) + " |")
        lines += ["", "NDCG@10 mean ± std over seeds; below: lift over `none` and p.", ""]
        # 2. quality detail
        header = ["model", "enhancer", "stack", "NDCG@10", "Recall@20", "HitRate@10",
                  "NDCG lift [95% CI]", "p"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join([":--"] * 3 + ["--:"] * 5) + "|")
        for r in table.to_dict("records"):
            lines.append("| " + " | ".join([
                r["model"], r["enhancer"], r["stack"],
                *(f"{r[f'{m} mean']:.4f} ± {r[f'{m} std']:.4f}" for m in METRICS),
                _lift(r, "ndcg@10"), _p(r, "ndcg@10")]) + " |")
        lines.append("")
        # 3. long tail
        header = ["model", "enhancer"]
        for group in ("tail_items", "tail_users"):
            name = GROUPS[group]
            header += [f"{name}: NDCG@10", "Recall@20", "HitRate@10", "NDCG lift", "p"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join([":--"] * 2 + ["--:"] * 10) + "|")
        for r in table.to_dict("records"):
            cells = [r["model"], r["enhancer"]]
            for group in ("tail_items", "tail_users"):
                cells += [_fmt(r[f"{group} {m} mean"]) for m in METRICS]
                cells += [_lift(r, f"{group} ndcg@10").split(" [")[0],
                          _p(r, f"{group} ndcg@10")]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        # 4. costs
        header = ["model", "enhancer", "LLM calls", "LLM cache hits", "encoder calls",
                  "encoder cache hits", "LLM-stage s", "fit s", "recommend s / 1000 users",
                  "peak RSS MB"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join([":--"] * 2 + ["--:"] * 8) + "|")
        for r in table.to_dict("records"):
            lines.append("| " + " | ".join([
                r["model"], r["enhancer"],
                *(f"{r.get(c, 0):.0f}" for c in ("llm_calls", "llm_cache_hits",
                                                 "encoder_calls", "encoder_cache_hits")),
                f"{r['llm_stage_seconds']:.2f}", f"{r['fit_seconds']:.2f}",
                f"{r['recommend_seconds_per_1000_users']:.3f}",
                f"{r['peak_rss_mb']:.0f}"]) + " |")
        lines += ["", "Costs: mean per cell (one fit) over seeds; calls and cache hits "
                  "count the enhancer steps' fit only; peak RSS is the largest over "
                  "seeds, of the whole benchmark process.", ""]
        if na:
            lines.append("Not applicable (n/a):")
            for row in ENHANCERS:
                models_na = [m for (m, r) in na if r == row]
                if models_na:
                    lines.append(f"- `{row}`: {why_not(row, ', '.join(models_na))}")
            lines.append("")
    for skip in bench.skipped:
        if "model" not in skip:
            lines.append(f"- data set `{skip['dataset']}` skipped: {skip['reason']}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------- plots
ROW_COLORS = {"augment": "#4C72B0", "features": "#DD8452", "init": "#55A868",
              "guidance": "#C44E52", "best": "#8172B3", "none": "#777777"}
ROW_MARKERS = {"none": "o", "augment": "s", "features": "^", "init": "D",
               "guidance": "v", "best": "*"}


ROW_LABELS = {"augment": "augment (LLMInteractionAugmenter)",
              "features": "features (LLMSummaryFeaturizer)",
              "init": "init (LLMEmbeddingInitializer)",
              "guidance": "guidance (GuidanceRegularizer)",
              "best": "best (stack chosen on validation)"}


SHORT = {"augment": "A", "features": "F", "init": "I", "guidance": "G", "none": "none"}


def _tick(table: pd.DataFrame, model: str) -> str:
    """The model's name, and the stack its "best" row stands for (A/F/I/G)."""
    best = table[(table["model"] == model) & (table["enhancer"] == "best")]
    if best.empty:
        return model
    stack = "+".join(SHORT[k] for k in best.iloc[0]["stack"].split("+"))
    return f"{model}\nbest: {stack}"


def plot_lift(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(summary["dataset"]))
    fig, axes = plt.subplots(len(datasets), 3, figsize=(19, 4.8 * len(datasets)),
                             squeeze=False)
    for d, dataset in enumerate(datasets):
        table = summary[summary["dataset"] == dataset]
        models = list(dict.fromkeys(table["model"]))
        rows = [r for r in ROWS[1:] if r in set(table["enhancer"])]
        width = 0.8 / max(len(rows), 1)
        for g, group in enumerate(GROUPS):
            ax = axes[d, g]
            column = _column(group, "ndcg@10")
            for i, row in enumerate(rows):
                xs, ys, lows, highs, stars = [], [], [], [], []
                for m, model in enumerate(models):
                    match = table[(table["model"] == model) & (table["enhancer"] == row)]
                    if match.empty or f"{column} lift" not in match or \
                            pd.isna(match.iloc[0][f"{column} lift"]):
                        continue
                    r = match.iloc[0]
                    lift = 100 * r[f"{column} lift"]
                    xs.append(m - 0.4 + width * (i + 0.5))
                    ys.append(lift)
                    lows.append(lift - 100 * r[f"{column} lift_ci_low"])
                    highs.append(100 * r[f"{column} lift_ci_high"] - lift)
                    stars.append(r[f"{column} p"] < 0.05)
                if not xs:
                    continue
                ax.bar(xs, ys, width * 0.92, color=ROW_COLORS[row], label=row,
                       yerr=[lows, highs], capsize=2, error_kw={"lw": 0.8})
                for x, y, high, star in zip(xs, ys, highs, stars, strict=True):
                    if star:
                        ax.annotate("*", (x, y + high if y >= 0 else y - lows[xs.index(x)]),
                                    ha="center", va="bottom" if y >= 0 else "top",
                                    fontsize=13, fontweight="bold")
            for m, model in enumerate(models):
                base = table[(table["model"] == model) & (table["enhancer"] == "none")]
                if not base.empty and base.iloc[0][f"{column} mean"] == 0:
                    ax.annotate("base = 0:\nno lift", (m, 0), ha="center", va="bottom",
                                fontsize=7.5, color="gray", xytext=(0, 4),
                                textcoords="offset points")
            ax.axhline(0, color="black", lw=0.8)
            ax.margins(y=0.12)
            ax.set_xticks(range(len(models)))
            ax.set_xticklabels([_tick(table, model) for model in models], fontsize=8.5)
            n = int(table[f"n_{group}"].max()) if group != "all" else int(table["n_users"].max())
            ax.set_title(f"{dataset}: {GROUPS[group]} (n={n})", fontsize=11)
            ax.set_ylabel("NDCG@10 lift over base model (%)")
            ax.grid(axis="y", alpha=0.3)
            ax.set_xlim(-0.6, len(models) - 0.4)
    handles = [plt.Rectangle((0, 0), 1, 1, color=ROW_COLORS[r]) for r in ROWS[1:]]
    fig.legend(handles, [ROW_LABELS[r] for r in ROWS[1:]], loc="upper center", ncol=5,
               fontsize=9, bbox_to_anchor=(0.5, 0.965), frameon=False)
    fig.suptitle("Lift of each LLM enhancer over its own base model (error bars: bootstrap "
                 "95% interval over users; *: paired Wilcoxon p < 0.05; best: the stack "
                 "chosen on validation, A/F/I/G = augment/features/init/guidance)",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_cost(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(summary["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(7.5 * len(datasets), 5.2),
                             squeeze=False)
    cmap = plt.get_cmap("tab10")
    for d, dataset in enumerate(datasets):
        ax = axes[0, d]
        table = summary[summary["dataset"] == dataset]
        models = list(dict.fromkeys(table["model"]))
        for m, model in enumerate(models):
            part = table[table["model"] == model]
            cost = part["llm_stage_seconds"] + part["fit_seconds"]
            base = part[part["enhancer"] == "none"]
            for (_, r), seconds in zip(part.iterrows(), cost, strict=True):
                ax.scatter(seconds, r["ndcg@10 mean"], color=cmap(m),
                           marker=ROW_MARKERS[r["enhancer"]], s=70 if r["enhancer"] != "best"
                           else 150, edgecolor="black", linewidth=0.5, zorder=3)
                if not base.empty and r["enhancer"] != "none":
                    b = base.iloc[0]
                    ax.plot([b["llm_stage_seconds"] + b["fit_seconds"], seconds],
                            [b["ndcg@10 mean"], r["ndcg@10 mean"]], color=cmap(m),
                            lw=0.6, alpha=0.5, zorder=1)
        ax.set_xscale("log")
        ax.set_xlabel("seconds per fit: LLM stage + model fit (log scale)")
        ax.set_ylabel("NDCG@10 (mean over seeds)")
        ax.set_title(f"{dataset}: quality vs cost", fontsize=11)
        ax.grid(alpha=0.3, which="both")
        model_handles = [plt.Line2D([], [], color=cmap(m), marker="o", ls="", label=model)
                         for m, model in enumerate(models)]
        row_handles = [plt.Line2D([], [], color="gray", marker=ROW_MARKERS[r], ls="",
                                  label=r) for r in ROWS if r in set(table["enhancer"])]
        ax.legend(handles=model_handles + row_handles, fontsize=8, ncol=2, loc="best")
    fig.suptitle("Quality vs cost (lines join each enhancer to its base model)",
                 fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ------------------------------------------------------------------------- all outputs
def write_report(out: Path, log, bench, config: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    summary, missing = summarize(log, bench)
    cells = [log.records[p["key"]] for p in bench.planned if p["key"] in log.records]
    config = {**config, "cell_seconds_total": sum(
        c["llm_stage_seconds"] + c["fit_seconds"] for c in log.records.values()
        if c.get("type") == "cell"),
        "git_of_cells": [json.loads(g) for g in sorted({json.dumps(c.get("git"))
                                                         for c in cells})]}
    runs = sorted((r for r in log.records.values() if r.get("type") == "run"),
                  key=lambda r: r["key"])
    payload = {
        "config": config, "versions": versions(),
        "runs": [{k: v for k, v in r.items() if k not in ("type", "key")} for r in runs],
        "selections": bench.selections, "skipped": bench.skipped,
        "missing_cells": missing,
        "summary": json.loads(summary.to_json(orient="records")) if len(summary) else [],
        "cells": [{k: v for k, v in c.items() if k not in ("per_user", "params", "type")}
                  for c in cells],
        # every parameter, once per pipeline (the seed is the only one that varies)
        "params": {f"{c['dataset']}|{c['model']}|{c['label']}": c["params"] for c in cells
                   if c["seed"] == cells[0]["seed"]},
    }
    (out / "results.json").write_text(json.dumps(payload, default=float,
                                                 separators=(",", ":")) + "\n")
    if summary.empty:
        print("no finished cell to report")
        return
    text = markdown(summary, bench, config)
    if missing:
        note = (f"{len(missing)} planned cell(s) are not in the log: not run yet, or a "
                "parameter changed since they ran (the key hashes every parameter); "
                "see missing_cells in results.json.")
        print(note, file=sys.stderr)
        text += f"\n{note}\n"
    (out / "results.md").write_text(text)
    (out / "results.rst").write_text(restructuredtext(summary, bench, config))
    plot_lift(summary, out / "lift.png")
    plot_cost(summary, out / "cost.png")
    print(text)
