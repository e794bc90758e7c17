"""The evaluation protocol shared by the benchmark scripts.

One cell = one model fitted and evaluated on one seed's split. Every cell records its
split, seed, parameters, library versions, quality (NDCG@10, Recall@20, HitRate@10 over
all held-out users), the per-user NDCG@10 (for paired tests) and its costs.
"""

from __future__ import annotations

import json
import platform
import resource
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from skllmers.metrics import evaluate, paired_test, per_user_scores
from skllmers.model_selection import LeaveLastOut

RESULTS_DIR = Path(__file__).parent / "results"
QUALITY = ("ndcg@10", "recall@20", "hit_rate@10")


def versions() -> dict:
    names = ["skllmers", "numpy", "scikit-learn", "torch", "implicit", "lightfm-next",
             "sentence-transformers", "llama_cpp_python"]
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    found["python"] = platform.python_version()
    found["machine"] = platform.machine()
    return found


def git_state() -> dict:
    """The commit of the working tree and whether the library's files differ from it."""
    import subprocess

    root = Path(__file__).resolve().parent.parent

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=30, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    commit = git("rev-parse", "HEAD")
    changed = git("status", "--porcelain", "--", "skllmers")
    return {"commit": commit, "library_changed_since_commit": bool(changed)}


def leave_last_out(data, seed: int):
    """Each user's last interaction by time (ties broken by ``seed``) is held out."""
    splitter = LeaveLastOut(random_state=seed)
    train_idx, test_idx = next(splitter.split(data))
    return data[train_idx], data[test_idx]


def run_cell(model, train, test, *, n_recommend_users: int = 1000) -> dict:
    """Fit ``model`` on ``train``, score it on ``test``; quality, costs and per-user NDCG."""
    start = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - start
    table = evaluate(model, train, test, metrics=("ndcg", "recall", "hit_rate"),
                     k=[10, 20], fit=False)
    recommender = model.steps[-1][1] if hasattr(model, "steps") else model
    users = recommender.user_ids_[:n_recommend_users]
    start = time.perf_counter()
    recommender.recommend(users, k=10)
    recommend_seconds = (time.perf_counter() - start) * 1000 / len(users)
    per_user = per_user_scores(model, test, "ndcg", 10)
    return {
        **{name: float(table[name].iloc[0]) for name in QUALITY},
        "n_test_users": int(table["n_users"].iloc[0]),
        "fit_seconds": fit_seconds,
        "recommend_seconds_per_1000_users": recommend_seconds,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "per_user_ndcg@10": {str(k): float(v) for k, v in per_user.items()},
    }


def summarize(cells: list[dict], baseline: str | None = None) -> pd.DataFrame:
    """Mean and std over seeds per model; paired Wilcoxon test against ``baseline``."""
    frame = pd.DataFrame(cells)
    rows = []
    for name, group in frame.groupby("model", sort=False):
        row = {"model": name, "seeds": len(group)}
        for column in (*QUALITY, "fit_seconds", "recommend_seconds_per_1000_users"):
            row[f"{column} mean"] = group[column].mean()
            row[f"{column} std"] = group[column].std(ddof=1) if len(group) > 1 else 0.0
        if baseline is not None and name != baseline:
            row.update(_paired_against(frame, name, baseline))
        rows.append(row)
    return pd.DataFrame(rows)


def _paired_against(frame: pd.DataFrame, name: str, baseline: str) -> dict:
    """Wilcoxon test of per-user NDCG@10 (averaged over seeds), model vs baseline.

    Averaging over seeds first keeps one value per user, so the test pairs independent
    users rather than counting the same user once per seed.
    """
    def per_user_mean(model):
        cells = frame.loc[frame["model"] == model, "per_user_ndcg@10"]
        return pd.DataFrame(list(cells)).mean(axis=0)

    result = paired_test(per_user_mean(name), per_user_mean(baseline), method="wilcoxon")
    return {f"lift vs {baseline}": result.relative_difference, "p-value": result.pvalue}


def write_results(name: str, cells: list[dict], summary: pd.DataFrame, config: dict) -> None:
    RESULTS_DIR.mkdir(exist_ok=True)
    payload = {"config": config, "versions": versions(), "cells": cells,
               "summary": summary.to_dict(orient="records")}
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(payload, indent=1, default=float))
    markdown = summary.to_markdown(index=False, floatfmt=".4f")
    (RESULTS_DIR / f"{name}.md").write_text(markdown + "\n")
    print(markdown)


def seeds_argument(value: str) -> list[int]:
    return [int(v) for v in value.split(",")] if "," in value else list(range(int(value)))


def median(values) -> float:
    return float(np.median(np.asarray(values, dtype=float)))


# ---------------------------------------------------------------------------------------
# Additions for the LLMERS benchmark (bench_llmers.py): per-user quality on several
# metrics, long-tail groups, costs of a pipeline's stages, and a resumable cell log.
# ---------------------------------------------------------------------------------------
#: The quality metrics of a cell: name -> (skllmers.metrics name, k).
METRICS = {"ndcg@10": ("ndcg", 10), "recall@20": ("recall", 20), "hit_rate@10": ("hit_rate", 10)}


def per_user_quality(model, test, candidates="all") -> pd.DataFrame:
    """NDCG@10, Recall@20 and HitRate@10 of each held-out user (index: user id).

    ``candidates="cold"`` ranks among the items with no training row only (the cold
    regime of a ``ColdItemSplit``)."""
    columns = {name: per_user_scores(model, test, metric, k, candidates=candidates)
               for name, (metric, k) in METRICS.items()}
    return pd.DataFrame(columns)


def cold_item_split(data, seed: int, test_size: float = 0.2):
    """All rows of a random ``test_size`` of the items held out (``ColdItemSplit``); the
    held-out items keep their id and their text, so a model can rank them from text."""
    import warnings

    from skllmers.model_selection import ColdItemSplit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the note on test users without training rows
        train_idx, test_idx = next(ColdItemSplit(test_size=test_size,
                                                 random_state=seed).split(data))
    return data[train_idx], data[test_idx]


def shuffle_item_texts(data, columns, seed: int):
    """``data`` with the text columns of its items table permuted across items.

    The control of Harte et al.: every enhancer then reads another item's text (the
    same texts, so the same vectors, on other items). A lift that survives the shuffle
    does not come from what the text says about the item.
    """
    if data.items is None:
        raise ValueError("data has no items table to shuffle.")
    permutation = np.random.default_rng(seed).permutation(len(data.items))
    items = data.items.copy()
    columns = list(columns)
    items[columns] = items[columns].to_numpy()[permutation]
    shuffled = data.take(np.arange(len(data)))
    shuffled.items = items  # same index and id map: only the texts moved
    return shuffled


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment of ``pvalues`` (family-wise error), NaN kept as NaN."""
    values = np.asarray(pvalues, dtype=float)
    adjusted = np.full(values.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(values))
    order = valid[np.argsort(values[valid], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * values[index]))
        adjusted[index] = running
    return adjusted


def long_tail_groups(train, test, quantile: float = 0.2) -> dict:
    """Held-out users of the long tail, on the item side and on the user side.

    ``tail_items``: users whose held-out item is in the lowest popularity ``quantile``
    of the held-out items (popularity = training users of the item; ties at the
    threshold are in). The quantile is taken over the held-out interactions rather
    than the catalogue: under LeaveLastOut only a handful of held-out items fall in the
    catalogue's lowest quintile (mostly items seen once), too few users to test.
    ``tail_users``: users in the lowest ``quantile`` of training activity (distinct
    training items). Both use real training rows only.
    """
    if not train.item_ids.equals(test.item_ids) or not train.user_ids.equals(test.user_ids):
        raise ValueError("train and test must share their id maps (a split of one data set).")
    seen = train.to_csr(values="ones", include_augmented=False).tocsr()
    seen.sum_duplicates()
    item_popularity = np.diff(seen.tocsc().indptr)
    user_activity = np.diff(seen.indptr)
    users = pd.Index(test.user_ids.take(test.user_codes), name="user_id")
    held = pd.Series(item_popularity[test.item_codes], index=users).groupby(level=0).min()
    activity = pd.Series(user_activity[test.user_codes], index=users).groupby(level=0).min()
    item_threshold = float(held.quantile(quantile))
    user_threshold = float(activity.quantile(quantile))
    catalogue_threshold = float(np.quantile(item_popularity, quantile))
    return {
        "tail_items": held.index[held <= item_threshold].tolist(),
        "tail_users": activity.index[activity <= user_threshold].tolist(),
        "tail_item_threshold": item_threshold,
        "tail_user_threshold": user_threshold,
        "catalogue_quintile_threshold": catalogue_threshold,
        "n_held_out_in_catalogue_quintile": int((held <= catalogue_threshold).sum()),
        "quantile": quantile,
    }


def backend_counters(backend) -> dict:
    """``requests``, ``cache_hits`` and ``calls`` of a skllmers backend (else {})."""
    stats = getattr(backend, "stats", None)
    if backend is None or not callable(stats):
        return {}
    values = stats()
    return {key: int(values.get(key, 0)) for key in ("requests", "cache_hits", "calls")}


class PeakMemory:
    """Peak resident memory of this process while the ``with`` block runs (MB).

    A thread samples the RSS every ``interval`` seconds; ``ru_maxrss`` would only give
    the peak of the whole process so far, which never goes down between cells.
    """

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.start_mb = self.peak_mb = float("nan")

    def _rss_mb(self) -> float:
        return self._process.memory_info().rss / 2**20

    def __enter__(self):
        import threading

        import psutil

        self._process = psutil.Process()
        self.start_mb = self.peak_mb = self._rss_mb()
        self._stop = threading.Event()

        def sample():
            while not self._stop.wait(self.interval):
                self.peak_mb = max(self.peak_mb, self._rss_mb())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._rss_mb())


def describe(obj):
    """A JSON-able, stable description of an estimator and its nested parameters."""
    if hasattr(obj, "get_params") and not isinstance(obj, type):
        if hasattr(obj, "steps"):  # a Pipeline: its steps, in order
            return {"class": type(obj).__name__,
                    "steps": [[name, describe(step)] for name, step in obj.steps]}
        params = obj.get_params(deep=False)
        return {"class": type(obj).__name__,
                "params": {key: describe(value) for key, value in sorted(params.items())}}
    if isinstance(obj, dict):
        return {str(key): describe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [describe(value) for value in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return repr(obj)


#: Parameters that never change a result here (where the cache lives, how chatty a
#: backend is, and what a transformer does with ids it did not see at fit: a split's
#: train and test share their id maps): left out of the hash, so a rerun with another
#: cache folder, or after such a default changed, reuses the cells.
NEUTRAL_PARAMS = frozenset({"cache", "verbose", "unseen_items", "unseen_users"})


#: Parameters added to a class after results were recorded, with the value that gives
#: the behaviour from before: left out of the hash at that value, so the recorded cells
#: keep their keys (any other value, or a later change of the default, is hashed).
ADDED_PARAMS = {
    "LLMEmbeddingInitializer": {"target": "items", "user_text_columns": None},
    "LLMSummaryFeaturizer": {"user_text_columns": None},
}
#: Parameters that change nothing unless another parameter of the same object has one
#: of the given values: left out of the hash otherwise (cells recorded before and after
#: such a parameter appeared then share their keys).
INERT_UNLESS = {
    "GuidanceRegularizer": {"n_neighbors": ("kind", ("distillation",))},
    "LLMEmbeddingInitializer": {"max_history": ("target", ("users", "both")),
                                "unseen_users": ("target", ("users", "both"))},
}
#: Values renamed by the one vocabulary (issue 14) where the behaviour stayed the same:
#: hashed under their old spelling, so the recorded cells keep their keys.
RENAMED_VALUES = {"LLMSummaryFeaturizer": {"target": {"items": "item", "users": "user"}}}
#: Behaviour that changed without a parameter changing (issue 14: user prompts join the
#: history by " | "): a marker joins the hash where it applies, so cells recorded before
#: are not reused. Renamed parameters (GuidanceRegularizer's profiles -> target,
#: n_recent -> max_history, item_prompt -> item_template; LLMEmbeddingInitializer's
#: n_recent -> max_history) are hashed under their new names on purpose: the users'
#: histories those cells embedded are now oldest first, so those cells are stale.
BEHAVIOUR_MARKERS = {
    "LLMSummaryFeaturizer": lambda params: (
        {"_history": "oldest first, ' | '"}
        if params.get("llm") is not None and params.get("target") in ("users", "both")
        else {}),
}


def _without_neutral(description):
    if isinstance(description, dict):
        if isinstance(description.get("params"), dict):
            description = {**description, "params": _relevant_params(
                description.get("class"), description["params"])}
        return {key: _without_neutral(value) for key, value in description.items()
                if key not in NEUTRAL_PARAMS}
    if isinstance(description, list):
        return [_without_neutral(value) for value in description]
    return description


def _relevant_params(cls, params: dict) -> dict:
    added = ADDED_PARAMS.get(cls, {})
    inert = INERT_UNLESS.get(cls, {})
    renamed = RENAMED_VALUES.get(cls, {})
    marker = BEHAVIOUR_MARKERS.get(cls, lambda _: {})(params)
    kept = {key: renamed.get(key, {}).get(value, value) if isinstance(value, str) else value
            for key, value in params.items()
            if not (key in added and value == added[key])
            and not (key in inert and params.get(inert[key][0]) not in inert[key][1])}
    return {**kept, **marker}


def params_hash(description) -> str:
    """Short hash of a :func:`describe` output (``NEUTRAL_PARAMS`` left out)."""
    text = json.dumps(_without_neutral(description), sort_keys=True, default=repr)
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()[:12]


def read_jsonl(path) -> list[dict]:
    """The records of a JSON-lines file, in order (blank lines skipped)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


class CellLog:
    """Append-only JSON-lines log of finished cells; a rerun skips what is in it.

    One line per finished cell (``"type": "cell"``) or split (``"type": "split"``),
    written and flushed as soon as it is known, so an interrupted run loses at most the
    cell it was running. A truncated last line (killed mid-write) is ignored.
    ``rekey(record)``, when given, computes the key a loaded record is found under
    (its stored ``"key"`` otherwise).
    """

    def __init__(self, path, rekey=None):
        self.path = Path(path)
        self.records: dict[str, dict] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by an interruption
                self.records[rekey(record) if rekey else record["key"]] = record

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def get(self, key: str):
        return self.records.get(key)

    def add(self, record: dict) -> dict:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        cut = False
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open("rb") as handle:
                handle.seek(-1, 2)
                cut = handle.read(1) != b"\n"
        with self.path.open("a") as handle:
            if cut:
                handle.write("\n")  # after a cut line, start a fresh one
            handle.write(json.dumps(record, default=float, separators=(",", ":")) + "\n")
            handle.flush()
        self.records[record["key"]] = record
        return record


# ---------------------------------------------------------------------------------------
# Compact per-user values: with one held-out item per user (LeaveLastOut, n=1) the three
# metrics follow from the item's rank, so a user is stored as one small integer.
# ---------------------------------------------------------------------------------------
_CODE_TOP20 = 11  # ranked 11th to 20th: Recall@20 = 1, NDCG@10 = HitRate@10 = 0


def decode_rank(code: int) -> dict:
    """NDCG@10, Recall@20 and HitRate@10 of a user whose one held-out item has ``code``
    (its rank 1-10, or 11 for ranks 11-20)."""
    if code == _CODE_TOP20:
        return {"ndcg@10": 0.0, "recall@20": 1.0, "hit_rate@10": 0.0}
    return {"ndcg@10": float(1.0 / np.log2(code + 1)), "recall@20": 1.0, "hit_rate@10": 1.0}


def encode_rank(values: dict) -> int | None:
    """The rank code of a user's metric values, or None if they do not come from one item."""
    if values["hit_rate@10"] == 1 and values["ndcg@10"] > 0:
        code = int(round(2 ** (1.0 / values["ndcg@10"]) - 1))
    elif values["recall@20"] == 1 and values["hit_rate@10"] == 0:
        code = _CODE_TOP20
    else:
        return None
    if not 1 <= code <= _CODE_TOP20:
        return None
    decoded = decode_rank(code)
    exact = all(abs(decoded[name] - values[name]) < 1e-5 for name in METRICS)  # 5 decimals
    return code if exact else None


def compact_per_user(quality: pd.DataFrame, all_users) -> dict:
    """Per-user values of a cell, compactly: users with all zeros are left out (they
    are the split's other held-out users), one-item users as rank codes, the rest as
    values (5 decimals)."""
    codes, values = {}, {}
    for user, row in zip(quality.index.astype(str), quality.to_dict("records"), strict=True):
        if not any(row.values()):
            continue
        code = encode_rank(row)
        if code is not None:
            codes[user] = code
        else:
            values[user] = [round(float(row[name]), 5) for name in quality.columns]
    result = {"columns": list(quality.columns), "rank_codes": codes, "nonzero": values}
    users = [str(u) for u in quality.index]
    if sorted(users) != sorted(str(u) for u in all_users):
        result["users"] = users  # the evaluated users differ from the split's
    return result


def expand_per_user(stored: dict, all_users) -> pd.DataFrame:
    """The per-user table of :func:`compact_per_user` (zeros restored)."""
    users = stored.get("users", [str(u) for u in all_users])
    columns = stored["columns"]
    position = {user: i for i, user in enumerate(users)}
    values = np.zeros((len(users), len(columns)))
    for user, code in stored.get("rank_codes", {}).items():
        decoded = decode_rank(code)
        values[position[user]] = [decoded[name] for name in columns]
    for user, row in stored.get("nonzero", {}).items():
        values[position[user]] = row
    return pd.DataFrame(values, index=pd.Index(users, name="user_id"), columns=columns)
