"""Tables, tests, goals and the plot of the LLMERS benchmark, from the cells of its log."""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _llmers_grid import ENHANCERS, why_not
from _protocol import METRICS, expand_per_user, holm, versions

from skllmers.metrics import paired_test

GOAL_RATIO, GOAL_P = 1.03, 0.05
WARM_GROUPS = {"all": "all users", "tail_users": "long-tail users",
               "tail_items": "long-tail items"}
COSTS = ("llm_calls", "encoder_calls", "encoder_cache_hits", "llm_stage_seconds",
         "fit_seconds", "peak_rss_mb")


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


def seed_mean(cells, splits, metric="ndcg@10", group="all") -> pd.Series:
    """Per-user mean over seeds (a user counts in the seeds where it is in ``group``)."""
    frame = pd.concat([per_user(c, splits[c["dataset"], c["seed"], c["split"]], metric, group)
                       for c in cells], axis=1)
    # Rounded: means of the same values in another order differ in the last bit, and
    # the Wilcoxon test would count such a difference as a (tiny) win or loss.
    return frame.mean(axis=1, skipna=True).round(9)


def paired(cells, base_cells, splits, group="all") -> dict:
    """Paired Wilcoxon of per-user NDCG@10 over the seeds both have; {} if untestable."""
    seeds = sorted({c["seed"] for c in cells} & {c["seed"] for c in base_cells})
    cells = [c for c in cells if c["seed"] in seeds]
    base_cells = [c for c in base_cells if c["seed"] in seeds]
    if not cells:
        return {}
    a, b = seed_mean(cells, splits, group=group), seed_mean(base_cells, splits, group=group)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = paired_test(a, b, method="wilcoxon", random_state=0)
    except ValueError:
        return {}
    scale = result.mean_b if result.mean_b else float("nan")
    return {"mean": result.mean_a, "baseline_mean": result.mean_b,
            "ratio": result.mean_a / scale, "ci_low": 1 + result.ci_low / scale,
            "ci_high": 1 + result.ci_high / scale, "p": result.pvalue, "n_users": result.n,
            "seeds": len(seeds)}


# ------------------------------------------------------------------------- collecting
def collect(log, bench):
    """Cells of this invocation by (data set, split, model, row, control); missing keys."""
    records = log.records
    groups, missing = {}, []
    for entry in bench.planned:
        record = records.get(entry["key"])
        if record is None:
            missing.append(entry["key"])
            continue
        key = (entry["dataset"], entry["split"], entry["model"], entry["row"],
               entry["control"])
        found = groups.setdefault(key, [])
        if all(c["key"] != record["key"] for c in found):
            found.append(record)
    splits = {(r["dataset"], r["seed"], r["split"]): r for r in records.values()
              if r.get("type") == "split"}
    return groups, splits, sorted(set(missing))


def means_table(groups) -> pd.DataFrame:
    rows = []
    for (dataset, split, model, row, control), cells in groups.items():
        frame = pd.DataFrame(cells)
        summary = {"dataset": dataset, "split": split, "model": model, "row": row,
                   "control": control or "", "stack": cells[0]["label"],
                   "seeds": len(cells), "n_users": int(frame["n_users"].mean())}
        for metric in METRICS:
            summary[f"{metric} mean"] = frame[metric].mean()
            summary[f"{metric} std"] = frame[metric].std(ddof=1) if len(frame) > 1 else 0.0
        for group in ("tail_users", "tail_items"):
            column = f"{group} ndcg@10"
            if column in frame:
                summary[f"{column} mean"] = frame[column].mean()
                summary[f"n_{group}"] = int(frame[f"n_{group}"].mean())
        for cost in COSTS:
            if cost in frame:
                summary[cost] = frame[cost].max() if cost == "peak_rss_mb" else frame[cost].mean()
        rows.append(summary)
    return pd.DataFrame(rows)


def _text_rows(groups, dataset, split):
    """(model, row, label) of the text pipelines, one per distinct stack: a ``best`` row
    that is a single enhancer (or none) is that row, tested once."""
    seen, out = set(), []
    for (d, s, model, row, control) in groups:
        if d != dataset or s != split or control or row == "none" or model in ("text-kNN",
                                                                              "random"):
            continue
        stack = groups[d, s, model, row, control][0]["label"]
        if stack == "none" or (model, stack) in seen:
            continue
        seen.add((model, stack))
        out.append((model, row, stack))
    return out


def tests_table(groups, splits, choices: dict) -> pd.DataFrame:
    """Every paired test of every data set, Holm-corrected within the data set."""
    rows = []
    datasets = list(dict.fromkeys(k[0] for k in groups))
    for dataset in datasets:
        plain = choices.get(dataset, {}).get("best_plain")
        start = len(rows)
        for model, row, stack in _text_rows(groups, dataset, "test"):
            cells = groups[dataset, "test", model, row, None]
            shuffled = groups.get((dataset, "test", model, row, "shuffled"), [])
            baselines = [("own base", groups.get((dataset, "test", model, "none", None)),
                          f"{model} (tuned)")]
            if plain and plain != model:
                baselines.append(("best plain", groups.get((dataset, "test", plain, "none",
                                                             None)), f"{plain} (tuned)"))
            baselines.append(("shuffled control", shuffled, f"{model} {stack} shuffled"))
            for group, regime in WARM_GROUPS.items():
                for kind, base_cells, base_name in baselines:
                    if not base_cells:
                        continue
                    result = paired(cells, base_cells, splits, group)
                    if result:
                        rows.append({"dataset": dataset, "regime": regime, "model": model,
                                     "row": row, "pipeline": f"{model} {stack}",
                                     "against": kind, "baseline": base_name, **result})
        floor = groups.get((dataset, "cold", "text-kNN", "none", None))
        random = groups.get((dataset, "cold", "random", "none", None))
        if floor and random:
            result = paired(floor, random, splits)
            if result:
                rows.append({"dataset": dataset, "regime": "cold items", "model": "text-kNN",
                             "row": "none", "pipeline": "text-kNN", "against": "random",
                             "baseline": "random", **result})
        for model, row, stack in _text_rows(groups, dataset, "cold"):
            cells = groups[dataset, "cold", model, row, None]
            for kind, base_cells, base_name in (
                    ("text-kNN", floor, "text-kNN"),
                    ("shuffled control", groups.get((dataset, "cold", model, row, "shuffled")),
                     f"{model} {stack} shuffled")):
                if base_cells:
                    result = paired(cells, base_cells, splits)
                    if result:
                        rows.append({"dataset": dataset, "regime": "cold items",
                                     "model": model, "row": row,
                                     "pipeline": f"{model} {stack}", "against": kind,
                                     "baseline": base_name, **result})
        part = rows[start:]
        controls = {(r["regime"], r["pipeline"]): r["baseline_mean"] for r in part
                    if r["against"] == "shuffled control"}
        for r in part:  # the shuffled pipeline's mean over the same baseline
            shuffled = controls.get((r["regime"], r["pipeline"]))
            if r["against"] != "shuffled control" and shuffled is not None:
                r["shuffled_ratio"] = shuffled / r["baseline_mean"] if r["baseline_mean"] \
                    else float("nan")
        for row_, adjusted in zip(part, holm([r["p"] for r in part]), strict=True):
            row_["p_holm"] = float(adjusted)
            row_["holm_family"] = len(part)
    return pd.DataFrame(rows)


def goals(tests: pd.DataFrame, choices: dict, groups) -> dict:
    """The two goals of issue 13 per data set: met / not met, with the numbers."""
    out = {}
    for dataset, choice in choices.items():
        result = {"best_plain": choice.get("best_plain"),
                  "best_pipeline": choice.get("best_pipeline")}
        best = choice.get("best_pipeline")
        table = tests[tests["dataset"] == dataset] if len(tests) else tests
        headline = None
        if best is not None and len(table):
            stack = groups.get((dataset, "test", best["model"], best["row"], None))
            if stack:
                name = f"{best['model']} {stack[0]['label']}"
                result["best_pipeline_name"] = name
                against = "own base" if best["model"] == choice["best_plain"] else "best plain"
                match = table[(table["pipeline"] == name) & (table["regime"] == "all users")
                              & (table["against"] == against)]
                if len(match):
                    headline = match.iloc[0]
        if headline is not None:
            result.update(ratio=float(headline["ratio"]), p_holm=float(headline["p_holm"]),
                          met=bool(headline["ratio"] >= GOAL_RATIO
                                   and headline["p_holm"] < GOAL_P))
        else:
            result.update(ratio=None, p_holm=None, met=False)
        below = []
        if len(table):
            chosen = {(m, groups[dataset, "test", m, "best", None][0]["label"])
                      for (d, s, m, r, c) in groups
                      if d == dataset and s == "test" and r == "best" and c is None}
            own = table[(table["against"] == "own base")
                        & table["regime"].isin(WARM_GROUPS.values())]
            for r in own.to_dict("records"):
                stack = r["pipeline"][len(r["model"]) + 1:]
                if (r["model"], stack) in chosen and r["ratio"] < 1 and r["p_holm"] < GOAL_P:
                    below.append({k: r[k] for k in ("regime", "pipeline", "ratio", "p_holm")})
        result["chosen_below_own_base"] = below
        result["no_chosen_below_own_base"] = not below
        out[dataset] = result
    return out


# ------------------------------------------------------------------------- markdown
def _fmt(value, digits=4):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}f}"


def _cell(means, dataset, split, model, row, control=""):
    match = means[(means["dataset"] == dataset) & (means["split"] == split)
                  & (means["model"] == model) & (means["row"] == row)
                  & (means["control"] == control)]
    return None if match.empty else match.iloc[0]


def goal_lines(goal: dict) -> list[str]:
    first = ("not measured" if goal["ratio"] is None else
             f"ratio {goal['ratio']:.3f}, Holm p {goal['p_holm']:.3g}")
    below = goal["chosen_below_own_base"]
    return [
        f"- Goal 1 (the best pipeline chosen on validation, "
        f"`{goal.get('best_pipeline_name', '-')}`, should reach at least {GOAL_RATIO}x the "
        f"best tuned plain model, `{goal['best_plain']}`, on NDCG@10 with Holm p < {GOAL_P}): "
        f"**{'met' if goal['met'] else 'not met'}** ({first}).",
        f"- Goal 2 (no pipeline chosen on validation significantly below its own base, "
        f"in any warm regime, Holm p < {GOAL_P}): "
        f"**{'met' if not below else 'not met'}**"
        + ("" if not below else " (" + "; ".join(
            f"{b['pipeline']} in {b['regime']}: {b['ratio']:.3f}, p {b['p_holm']:.3g}"
            for b in below) + ")") + "."]


def _selection_lines(bench, dataset):
    lines = ["| model | tuned base (validation NDCG@10) | enhancer: chosen parameters "
             "(validation NDCG@10) | best stack |", "|:--|:--|:--|:--|"]
    for s in bench.selections:
        if s["dataset"] != dataset:
            continue
        base_score = max(g["validation_ndcg@10"] for g in s["base_grid"])
        enhancers = "<br>".join(
            f"{kind}: {json.dumps(v['chosen'])} ({max(g['validation_ndcg@10'] for g in v['grid']):.4f})"
            for kind, v in s["enhancers"].items())
        best = s.get("best", {})
        lines.append(f"| {s['model']} | {json.dumps(s['base'])} ({base_score:.4f}) | "
                     f"{enhancers} | {best.get('stack', '')} "
                     f"({_fmt(best.get('validation_ndcg@10'))}) |")
    return lines


def markdown(means, tests, goal, bench, config) -> str:
    lines = []
    for dataset in dict.fromkeys(means["dataset"]):
        part = means[means["dataset"] == dataset]
        seeds = int(part["seeds"].max())
        choice = bench.choices.get(dataset, {})
        lines += [f"## {dataset}", "",
                  f"{config['datasets'][dataset]}; {seeds} seed(s) "
                  f"({', '.join(map(str, config['seeds']))}); every base model and enhancer "
                  "tuned on validation (the first seed's training rows, LeaveLastOut). "
                  f"Best tuned plain model on validation: **{choice.get('best_plain')}** "
                  f"({_fmt(choice.get('best_plain_validation'))}); best text pipeline on "
                  f"validation: **{goal[dataset].get('best_pipeline_name', '-')}** "
                  f"({_fmt(choice.get('best_pipeline_validation'))}).", "",
                  *goal_lines(goal[dataset]), "", "### Chosen on validation", "",
                  *_selection_lines(bench, dataset), ""]
        lines += ["### Warm test (LeaveLastOut): NDCG@10 mean ± std over seeds", "",
                  "| model | row | stack | NDCG@10 | shuffled texts | Recall@20 | "
                  "HitRate@10 | long-tail users | long-tail items | text stage s | fit s |",
                  "|:--|:--|:--|--:|--:|--:|--:|--:|--:|--:|--:|"]
        warm = part[(part["split"] == "test") & (part["control"] == "")]
        for r in warm.to_dict("records"):
            shuffled = _cell(means, dataset, "test", r["model"], r["row"], "shuffled")
            lines.append("| " + " | ".join([
                r["model"], r["row"], r["stack"],
                f"{r['ndcg@10 mean']:.4f} ± {r['ndcg@10 std']:.4f}",
                "" if shuffled is None else f"{shuffled['ndcg@10 mean']:.4f}",
                _fmt(r["recall@20 mean"]), _fmt(r["hit_rate@10 mean"]),
                _fmt(r.get("tail_users ndcg@10 mean")), _fmt(r.get("tail_items ndcg@10 mean")),
                _fmt(r.get("llm_stage_seconds"), 1), _fmt(r.get("fit_seconds"), 1)]) + " |")
        n_tail = {g: int(warm[f"n_{g}"].max()) for g in ("tail_users", "tail_items")
                  if f"n_{g}" in warm}
        lines += ["", f"{int(warm['n_users'].max())} held-out users per seed; "
                  f"{n_tail.get('tail_users', 0)} long-tail users, "
                  f"{n_tail.get('tail_items', 0)} with a long-tail item. `best` may be "
                  "the same stack as a single row (then it is the same cell).", ""]
        cold = part[(part["split"] == "cold") & (part["control"] == "")]
        if len(cold):
            lines += ["### Cold items (ColdItemSplit 20%, ranking among the cold items)", "",
                      "| model | row | stack | NDCG@10 | shuffled texts | Recall@20 |",
                      "|:--|:--|:--|--:|--:|--:|"]
            for r in cold.to_dict("records"):
                shuffled = _cell(means, dataset, "cold", r["model"], r["row"], "shuffled")
                lines.append(f"| {r['model']} | {r['row']} | {r['stack']} | "
                             f"{r['ndcg@10 mean']:.4f} ± {r['ndcg@10 std']:.4f} | "
                             f"{'' if shuffled is None else _fmt(shuffled['ndcg@10 mean'])} | "
                             f"{_fmt(r['recall@20 mean'])} |")
            lines += ["", f"{int(cold['n_users'].max())} test users per seed.", ""]
        table = tests[tests["dataset"] == dataset] if len(tests) else tests
        if len(table):
            lines += summary_lines(table)
            lines += [f"### Paired tests (Wilcoxon over users, Holm over all "
                      f"{int(table['holm_family'].iloc[0])} tests of {dataset})", "",
                      "| regime | pipeline | against | n | mean | baseline | ratio "
                      "[95% CI] | shuffled ratio | p | Holm p |",
                      "|:--|:--|:--|--:|--:|--:|--:|--:|--:|--:|"]
            for r in table.to_dict("records"):
                star = " *" if r["p_holm"] < GOAL_P else ""
                lines.append(f"| {r['regime']} | {r['pipeline']} | {r['against']}: "
                             f"{r['baseline']} | {r['n_users']} | {r['mean']:.4f} | "
                             f"{r['baseline_mean']:.4f} | {r['ratio']:.3f} "
                             f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}] | "
                             f"{_fmt(r.get('shuffled_ratio'), 3)} | {r['p']:.3g} | "
                             f"{r['p_holm']:.3g}{star} |")
            lines.append("")
        na = {(s["model"], s["enhancer"]): s["reason"] for s in bench.skipped
              if s.get("dataset") == dataset and "model" in s}
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


def _ratio(table, pipeline, regime, against) -> str:
    match = table[(table["pipeline"] == pipeline) & (table["regime"] == regime)
                  & (table["against"] == against)]
    if match.empty or pd.isna(match.iloc[0]["ratio"]):
        return ""
    r = match.iloc[0]
    return f"{r['ratio']:.3f}{' *' if r['p_holm'] < GOAL_P else ''}"


def summary_lines(table: pd.DataFrame) -> list[str]:
    """One line per text pipeline: its NDCG@10 ratios to each baseline in each regime
    (``*``: Holm p < 0.05); the shuffled column is the shuffled control's ratio to the
    own base (no lift left there = the lift is semantic)."""
    lines = ["### Summary: NDCG@10 ratios (* Holm p < 0.05)", "",
             "| pipeline | vs own base | shuffled vs own base | vs shuffled | vs best plain "
             "| long-tail users vs own base | long-tail items vs own base | cold: vs "
             "text-kNN | cold: vs shuffled |", "|:--|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for pipeline in dict.fromkeys(table.loc[table["against"] != "random", "pipeline"]):
        own = table[(table["pipeline"] == pipeline) & (table["regime"] == "all users")
                    & (table["against"] == "own base")]
        shuffled = "" if own.empty or pd.isna(own.iloc[0].get("shuffled_ratio")) else \
            f"{own.iloc[0]['shuffled_ratio']:.3f}"
        lines.append("| " + " | ".join([
            pipeline, _ratio(table, pipeline, "all users", "own base"), shuffled,
            _ratio(table, pipeline, "all users", "shuffled control"),
            _ratio(table, pipeline, "all users", "best plain"),
            _ratio(table, pipeline, "long-tail users", "own base"),
            _ratio(table, pipeline, "long-tail items", "own base"),
            _ratio(table, pipeline, "cold items", "text-kNN"),
            _ratio(table, pipeline, "cold items", "shuffled control")]) + " |")
    return [*lines, ""]


def restructuredtext(means, goal, config) -> str:
    """The goals and the warm NDCG@10 table of each data set, as RST (for the docs)."""
    lines = []
    for dataset in dict.fromkeys(means["dataset"]):
        warm = means[(means["dataset"] == dataset) & (means["split"] == "test")
                      & (means["control"] == "")]
        lines += [line.replace("`", "``")
                  for line in goal_lines(goal[dataset])]
        lines += ["", f".. list-table:: {dataset}: warm NDCG@10 (mean over "
                  f"{int(warm['seeds'].max())} seeds), tuned on validation; shuffled = "
                  "item texts permuted across items", "   :header-rows: 1", "",
                  "   * - model", "     - row", "     - stack", "     - NDCG@10",
                  "     - shuffled"]
        for r in warm.to_dict("records"):
            shuffled = _cell(means, dataset, "test", r["model"], r["row"], "shuffled")
            lines += [f"   * - {r['model']}", f"     - {r['row']}", f"     - {r['stack']}",
                      f"     - {r['ndcg@10 mean']:.4f}",
                      f"     - {'' if shuffled is None else _fmt(shuffled['ndcg@10 mean'])}"]
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------- plot
def plot_lift(tests: pd.DataFrame, path: Path) -> None:
    """Ratio of each text pipeline to its own base (warm regimes) or to text-kNN (cold),
    with the shuffled control's ratio to the same baseline as a black tick."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(tests["dataset"]))
    regimes = [*WARM_GROUPS.values(), "cold items"]
    fig, axes = plt.subplots(len(datasets), len(regimes), squeeze=False,
                             figsize=(5 * len(regimes), 0.5 + 4.5 * len(datasets)))
    for d, dataset in enumerate(datasets):
        for g, regime in enumerate(regimes):
            ax = axes[d, g]
            against = "text-kNN" if regime == "cold items" else "own base"
            part = tests[(tests["dataset"] == dataset) & (tests["regime"] == regime)
                         & (tests["against"] == against)]
            ys = np.arange(len(part))
            colors = ["#C44E52" if p < GOAL_P and r < 1 else "#55A868" if p < GOAL_P
                      else "#8C8C8C" for r, p in zip(part["ratio"], part["p_holm"],
                                                     strict=True)]
            ax.barh(ys, part["ratio"] - 1, left=1, color=colors)
            shuffled = []
            for r in part.to_dict("records"):
                control = tests[(tests["dataset"] == dataset) & (tests["regime"] == regime)
                                & (tests["pipeline"] == r["pipeline"])
                                & (tests["against"] == "shuffled control")]
                shuffled.append(control.iloc[0]["baseline_mean"] / r["baseline_mean"]
                                if len(control) and r["baseline_mean"] else np.nan)
            ax.scatter(shuffled, ys, marker="|", color="black", s=120, zorder=3)
            ax.axvline(1, color="black", lw=0.8)
            ax.axvline(GOAL_RATIO, color="gray", lw=0.6, ls="--")
            ax.set_yticks(ys)
            ax.set_yticklabels(part["pipeline"], fontsize=7)
            ax.set_title(f"{dataset}: {regime} (vs {against})", fontsize=10)
            ax.set_xlabel("NDCG@10 ratio")
    fig.suptitle("Each text pipeline against its own tuned base (cold: against text-kNN); "
                 "green / red: Holm p < 0.05; black tick: the shuffled-text control",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ------------------------------------------------------------------------- all outputs
def write_report(out: Path, log, bench, config: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    groups, splits, missing = collect(log, bench)
    means = means_table(groups)
    tests = tests_table(groups, splits, bench.choices) if groups else pd.DataFrame()
    goal = goals(tests, bench.choices, groups) if groups else {}
    runs = sorted((r for r in log.records.values() if r.get("type") == "run"),
                  key=lambda r: r["key"])
    cells = [c for found in groups.values() for c in found]
    payload = {
        "config": {**config, "cell_seconds_total": sum(
            c["llm_stage_seconds"] + c["fit_seconds"] for c in log.records.values()
            if c.get("type") == "cell")},
        "versions": versions(),
        "runs": [{k: v for k, v in r.items() if k not in ("type", "key")} for r in runs],
        "choices": bench.choices, "selections": bench.selections, "goals": goal,
        "skipped": bench.skipped, "missing_cells": missing,
        "means": json.loads(means.to_json(orient="records")) if len(means) else [],
        "tests": json.loads(tests.to_json(orient="records")) if len(tests) else [],
        "cells": [{k: v for k, v in c.items() if k not in ("per_user", "params", "type")}
                  for c in cells],
    }
    (out / "results.json").write_text(json.dumps(payload, default=float,
                                                 separators=(",", ":")) + "\n")
    if means.empty:
        print("no finished cell to report")
        return
    commands = list(dict.fromkeys(r["command"] for r in runs if r.get("seconds")))
    text = ("# LLMERS benchmark (tuned baselines, Holm, shuffled-text controls)\n\n"
            + "".join(f"Run: `{c}`\n\n" for c in commands)
            + f"Report: `{config['command']}`\n\nCells run at commit(s) "
            f"{sorted({str((c.get('git') or {}).get('commit'))[:10] for c in cells})}; "
            f"LLM: {config['llm'] if isinstance(config['llm'], str) else 'llama.cpp'}; "
            f"threads {config['threads']}; load average at the runs' starts: "
            f"{[r.get('load_average') for r in runs][-3:]}.\n\n"
            + markdown(means, tests, goal, bench, config))
    if missing:
        note = (f"{len(missing)} planned cell(s) are not in the log: not run yet, or a "
                "parameter changed since they ran (the key hashes every parameter); "
                "see missing_cells in results.json.")
        print(note, file=sys.stderr)
        text += f"\n{note}\n"
    (out / "results.md").write_text(text)
    (out / "results.rst").write_text(restructuredtext(means, goal, config))
    if len(tests):
        plot_lift(tests, out / "lift.png")
    print(text)
