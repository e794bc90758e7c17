"""Does item text lift the strongest tuned model? EASE vs L3AE vs score fusion.

Run (one thread, about 10-15 minutes per data set on first run, encodings cached)::

    nice python benchmarks/bench_text_lift.py --data ml1m      # ml-1m-agent4rec
    nice python benchmarks/bench_text_lift.py --data small     # ml-latest-small
    nice python benchmarks/bench_text_lift.py --data small --summaries  # + LLM summaries

Protocol
--------
``ml1m`` (``../shared/data/ml-1m-agent4rec``, see its README): fit on ``train.txt``,
choose hyper-parameters on ``valid.txt`` (train items excluded from the ranking), report
on ``test.txt`` with train and valid items excluded; full ranking; NDCG@20 and
Recall@20 (the goal is read on NDCG@20, the data set's protocol). Two item texts through
the same encoder (all-MiniLM-L6-v2, :class:`skllmers.llm.SentenceEncoder`, offline):
``title_genres`` and ``summary`` (the LLM-written one-sentence summary).

``small`` (bundled ml-latest-small): items with fewer than 5 ratings are dropped first
(EASE's dense inverse over all 9.7k items would not fit the time budget; 3.6k items
remain); test = each user's last rating (LeaveLastOut, seed 0), validation = the last
of the remaining rows (LeaveLastOut on the training rows only: no test row is seen while
tuning); the goal is read on NDCG@10. Text ``title_genres`` (title, year and genres);
``--summaries`` adds ``summary``, the item summaries Qwen2.5-Coder-1.5B wrote with
``LLMSummaryFeaturizer``'s item prompt on the same title, year and genres
(``write_item_summaries.py``), encoded alone as ml-1m's ``summary`` is. ``--holdout 5``
holds out each user's last five rows instead (validation: the five before them), the
split of ``bench_sasrec_text.py --holdout 5``. ``--min-ratings R`` keeps only the movies
with at least R ratings (the interim reading of ``text_lift_small_summaries_protocol.md``).

Candidates, each tuned on validation only, then refitted on the training rows:

- plain EASE (grid over ``l2``) and plain ALS (small grid): the strongest tuned plain
  model is the better of the two on validation;
- L3AE: ``EASERecommender(beta=...)`` over ``l2``, ``beta`` and the form of ``S``;
- fusion: ``TextFusionRecommender(tuned EASE)`` and ``TextFusionRecommender(tuned L3AE)``,
  ``alpha`` chosen by ``tune_fusion_alpha`` on validation.

The "best pipeline" is the text pipeline with the best validation score. Reported on
test: mean metrics, the lift over the best plain model, the paired Wilcoxon test of
per-user NDCG (``skllmers.metrics.paired_test``) with Holm's correction over every test
of the data set (pipelines x regimes and the controls; with two texts, also each summary
pipeline against the same pipeline on ``title_genres``), in three regimes: all users,
long-tail users (the third with the fewest training rows) and long-tail items (the
relevant set restricted to items outside the 20% most popular; users with at least one
such item). Shuffled-vector control (Harte et al.): the best pipeline's hyper-parameters
with the item vectors permuted across items; the lift must vanish for it to be semantic.

Encodings are cached in ``benchmarks/results/text_lift_vectors_<data>_<text>_<hash>.npy``.
Results go to ``benchmarks/results/text_lift_<data>[_min<R>][_last<N>][_summaries].{json,md}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import _threads  # noqa: F401  (sets the thread pools before numpy loads)
import numpy as np
import pandas as pd
from _protocol import git_state, read_jsonl, versions

from skllmers import EmbeddingInit, InteractionData
from skllmers.metrics import ndcg_at_k, paired_test, recall_at_k
from skllmers.recommenders import (
    ALSRecommender,
    EASERecommender,
    TextFusionRecommender,
    tune_fusion_alpha,
)

RESULTS = Path(__file__).parent / "results"
ML1M = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-1m-agent4rec"
ML1M_FALLBACK = Path("/work/shared/data/ml-1m-agent4rec")
# Qwen2.5-Coder-1.5B's item summaries of ml-latest-small (write_item_summaries.py)
SMALL_SUMMARIES = RESULTS / "item_summaries_small_qwen2.5-coder-1.5b-instruct-q4_k_m.jsonl"
ALPHAS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
GOAL_LIFT, GOAL_P = 1.03, 0.05


# ---------------------------------------------------------------------- data
def _read_lines(path: Path) -> list[tuple[int, int]]:
    pairs = []
    for line in path.read_text().splitlines():
        ids = [int(v) for v in line.split()]
        pairs += [(ids[0], item) for item in ids[1:]]
    return pairs


def load_ml1m():
    folder = ML1M if ML1M.exists() else ML1M_FALLBACK
    movies = pd.read_csv(folder / "movies.csv").set_index("movie_id")
    movies["title_genres"] = movies["title"] + ". " + movies["genres"].str.replace("|", ", ")
    frames = {name: pd.DataFrame(_read_lines(folder / f"{name}.txt"),
                                 columns=["user_id", "item_id"])
              for name in ("train", "valid", "test")}
    items = movies.loc[movies.index.isin(frames["train"]["item_id"])]
    train = InteractionData.from_pandas(frames["train"], items=items)
    parts = {name: _same_maps(frame, train) for name, frame in frames.items()}
    texts = {name: items.loc[train.item_ids, name].fillna("").tolist()
             for name in ("title_genres", "summary")}
    return parts, texts, {"valid_excludes": ["train"], "test_excludes": ["train", "valid"],
                          "goal_k": 20}


def load_small(n_test: int = 1, summaries: Path | None = None, min_ratings: int = 5):
    """ml-latest-small, items with >= ``min_ratings`` ratings; test and validation are
    each user's last ``n_test`` rows (LeaveLastOut), validation taken from the training
    rows. With ``summaries`` (a ``write_item_summaries.py`` file), the LLM-written
    summaries are a second text, ``summary``."""
    from skllmers.model_selection import LeaveLastOut

    data = small_catalogue(min_ratings)
    splitter = LeaveLastOut(n=n_test, random_state=0)
    train_idx, test_idx = next(splitter.split(data))
    train = data[train_idx]
    fit_idx, valid_idx = next(splitter.split(train))
    parts = {"train": train[fit_idx], "valid": train[valid_idx], "full_train": train,
             "test": data[test_idx]}
    table = data.items.loc[data.item_ids]
    texts = {"title_genres": (table["title"] + " (" + table["year"].astype("string")
                              .fillna("") + "). " + table["genres"].fillna("")
                              .str.replace("|", ", ")).tolist()}
    if summaries is not None:
        texts["summary"] = read_summaries(summaries, data.item_ids)
    return parts, texts, {"valid_excludes": ["train"], "test_excludes": ["full_train"],
                          "goal_k": 10}


def small_catalogue(min_ratings: int = 5):
    """ml-latest-small cut to the movies with >= ``min_ratings`` ratings (rows of rarer
    movies dropped)."""
    from skllmers.datasets import load_movielens

    data = load_movielens("latest-small", verbose=False)
    counts = np.bincount(data.item_codes, minlength=data.n_items)
    frame = data.to_pandas()
    frame = frame[counts[data.item_codes] >= min_ratings]
    items = data.items.loc[data.items.index.isin(frame["item_id"])]
    return InteractionData.from_pandas(frame, items=items, rating_col="rating",
                                       time_col="timestamp")


def read_summaries(path: Path, item_ids) -> list[str]:
    """The summary of each of ``item_ids`` in a ``write_item_summaries.py`` file; every
    item must have one (a partial catalogue would mix LLM and template text)."""
    summaries = {record["item_id"]: record["summary"] for record in read_jsonl(path)}
    missing = [item for item in item_ids if item not in summaries]
    if missing:
        raise SystemExit(f"{len(missing)} of {len(item_ids)} items have no summary in "
                         f"{path}; write_item_summaries.py resumes where it stopped")
    return [summaries[item] for item in item_ids]


def _same_maps(frame: pd.DataFrame, train: InteractionData) -> InteractionData:
    return InteractionData(train.user_ids.get_indexer(frame["user_id"]),
                           train.item_ids.get_indexer(frame["item_id"]),
                           user_ids=train.user_ids, item_ids=train.item_ids)


def encode(data_name: str, texts: dict) -> dict:
    from skllmers.llm import SentenceEncoder

    RESULTS.mkdir(exist_ok=True)
    vectors = {}
    encoder = None
    for name, strings in texts.items():
        # keyed by the texts themselves, so an edited text is never served stale vectors
        digest = hashlib.sha1("\n".join(strings).encode()).hexdigest()[:12]
        path = RESULTS / f"text_lift_vectors_{data_name}_{name}_{digest}.npy"
        if path.exists():
            vectors[name] = np.load(path)
            continue
        encoder = encoder or SentenceEncoder(device="cpu", verbose=0)
        vectors[name] = encoder.embed(strings).astype(np.float32)
        np.save(path, vectors[name])
    return vectors


# ---------------------------------------------------------------------- evaluation
class Evaluator:
    """Full-ranking per-user NDCG/Recall of held-out rows, excluding given item sets."""

    def __init__(self, held_out: InteractionData, excluded: list[InteractionData], k: int):
        n_users, n_items = held_out.n_users, held_out.n_items
        self.k = k
        relevant = held_out.to_csr(values="ones").tocsr()
        mask = sum(part.to_csr(values="ones") for part in excluded).tocsr()
        relevant = relevant - relevant.multiply(mask > 0)
        relevant.eliminate_zeros()
        self.users = np.flatnonzero(np.diff(relevant.indptr))
        self.relevant = [relevant.indices[relevant.indptr[u]:relevant.indptr[u + 1]]
                         for u in self.users]
        self.mask = mask[self.users]
        self.shape = (n_users, n_items)

    def top(self, model, k: int | None = None) -> np.ndarray:
        k = k or self.k
        out = np.empty((len(self.users), k), dtype=np.int64)
        for start in range(0, len(self.users), 512):
            chunk = slice(start, start + 512)
            scores = np.asarray(model._score_users(self.users[chunk]), dtype=np.float64)
            rows, cols = self.mask[chunk].nonzero()
            scores[rows, cols] = -np.inf
            part = np.argpartition(-scores, k, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1,
                               kind="stable")
            out[chunk] = np.take_along_axis(part, order, axis=1)
        return out

    def ndcg(self, model) -> float:
        return float(ndcg_at_k(self.relevant, self.top(model), k=self.k))

    def per_user(self, model, relevant=None) -> dict:
        """Per-user metrics; ``relevant`` replaces the relevant lists (users whose list
        is empty get NaN, so the arrays stay aligned with ``self.users``)."""
        top = self.top(model, 20)
        if relevant is not None:
            keep = np.array([len(items) > 0 for items in relevant])
            out = {}
            for name, values in self.per_user_of(top[keep], [r for r in relevant
                                                             if len(r)]).items():
                out[name] = np.full(len(self.users), np.nan)
                out[name][keep] = values
            return out
        return self.per_user_of(top, self.relevant)

    @staticmethod
    def per_user_of(top, relevant) -> dict:
        return {
            "ndcg@10": np.asarray(ndcg_at_k(relevant, top, k=10, average=False)),
            "ndcg@20": np.asarray(ndcg_at_k(relevant, top, k=20, average=False)),
            "recall@20": np.asarray(recall_at_k(relevant, top, k=20, average=False)),
        }


# ---------------------------------------------------------------------- tuning
def tune(make, grid: list[dict], fit_data, evaluator, log, label) -> tuple[dict, float]:
    best, best_score = None, -np.inf
    for params in grid:
        start = time.perf_counter()
        score = evaluator.ndcg(make(**params).fit(fit_data))
        log.append({"candidate": label, **params, "valid_ndcg": score,
                    "seconds": time.perf_counter() - start})
        print(f"  {label} {params}: valid NDCG@{evaluator.k} {score:.4f}", flush=True)
        if score > best_score:
            best, best_score = params, score
    return best, best_score


def ease_grid():
    return [{"l2": l2} for l2 in (30.0, 100.0, 200.0, 400.0, 800.0, 1600.0)]


def l3ae_grid(l2: float):
    """L3AE's phase-1 LAE prior over its ridge, beta and EASE's own l2; two cosine S."""
    grid = [{"l2": l2 * scale, "beta": beta, "semantic": "lae", "semantic_l2": semantic_l2}
            for semantic_l2 in (3.0, 10.0, 30.0)
            for beta in (300.0, 1000.0, 3000.0)
            for scale in (0.25, 1.0)]
    grid += [{"l2": l2, "beta": beta, "semantic": "cosine", "semantic_k": 50}
             for beta in (1.0, 3.0)]
    return grid


def als_grid():
    return [{"n_factors": f, "regularization": r, "alpha": a, "iterations": 15}
            for f, r, a in ((64, 0.1, 5.0), (64, 1.0, 5.0), (128, 0.1, 5.0), (64, 0.1, 20.0))]


def make_ease(**params):
    return EASERecommender(**params)


def make_als(**params):
    return ALSRecommender(random_state=0, num_threads=1, use_gpu=False, **params)


# ---------------------------------------------------------------------- main
def run(data_name: str, quick: bool, holdout: int = 1, summaries: Path | None = None,
        min_ratings: int = 5) -> dict:
    started = time.perf_counter()
    parts, texts, protocol = (load_ml1m() if data_name == "ml1m"
                              else load_small(holdout, summaries, min_ratings))
    vectors = encode(data_name, texts)
    fit_data = parts["train"]
    final_train = parts.get("full_train", parts["train"])
    valid_eval = Evaluator(parts["valid"], [parts[n] for n in protocol["valid_excludes"]],
                           protocol["goal_k"])
    test_eval = Evaluator(parts["test"], [parts[n] for n in protocol["test_excludes"]],
                          protocol["goal_k"])
    log: list[dict] = []
    chosen: dict[str, dict] = {}

    # plain models
    ease_params, ease_valid = tune(make_ease, ease_grid(), fit_data, valid_eval, log, "ease")
    chosen["EASE"] = {"make": make_ease, "params": ease_params, "valid": ease_valid,
                      "text": None}
    grid = als_grid()[:2] if quick else als_grid()
    als_params, als_valid = tune(make_als, grid, fit_data, valid_eval, log, "als")
    chosen["ALS"] = {"make": make_als, "params": als_params, "valid": als_valid, "text": None}

    # text pipelines
    plain_als = make_als(**als_params).fit(fit_data)
    for text, item_vectors in vectors.items():
        als_vectors = _als_vectors(item_vectors, plain_als)
        with_init = fit_data.with_artifacts(item_embeddings=EmbeddingInit(als_vectors))
        grid = [{**als_params, "prior_weight": w} for w in (0.0, 30.0, 300.0)]
        prior_params, prior_valid = tune(make_als, grid[::2] if quick else grid, with_init,
                                         valid_eval, log, f"als+prior[{text}]")
        chosen[f"ALS+prior[{text}]"] = {"make": make_als, "params": prior_params,
                                        "valid": prior_valid, "text": text,
                                        "reduce": lambda v: _als_vectors(v, plain_als)}
        with_text = fit_data.with_artifacts(item_features=item_vectors)
        grid = l3ae_grid(ease_params["l2"])
        grid = grid[::6] if quick else grid
        l3ae_params, l3ae_valid = tune(make_ease, grid, with_text, valid_eval, log,
                                       f"l3ae[{text}]")
        chosen[f"L3AE[{text}]"] = {"make": make_ease, "params": l3ae_params,
                                   "valid": l3ae_valid, "text": text}
        for base_name, base_params in (("EASE", ease_params), ("L3AE", l3ae_params)):
            fused = TextFusionRecommender(EASERecommender(**base_params)).fit(with_text)
            table = tune_fusion_alpha(fused, parts["valid"], ALPHAS, k=protocol["goal_k"])
            # tune_fusion_alpha excludes only seen_ (the fit rows) = valid protocol here
            alpha = float(table.idxmax())
            log += [{"candidate": f"fusion[{base_name},{text}]", "alpha": a,
                     "valid_ndcg": v} for a, v in table.items()]
            print(f"  fusion[{base_name},{text}] valid by alpha: "
                  f"{table.round(4).to_dict()}", flush=True)
            chosen[f"Fusion({base_name})[{text}]"] = {
                "make": _fusion_maker(base_params), "params": {"alpha": alpha},
                "valid": float(table.max()), "text": text}

    # refit the chosen configurations on the training rows, score on test
    per_user, test_means = {}, {}
    for name, spec in chosen.items():
        model = spec["make"](**spec["params"]).fit(_with_text(final_train, spec, vectors))
        per_user[name] = test_eval.per_user(model)
        test_means[name] = {m: float(v.mean()) for m, v in per_user[name].items()}
        print(f"{name} {spec['params']}: test {test_means[name]}", flush=True)
        spec["model"] = model

    plain = max(("EASE", "ALS"), key=lambda n: chosen[n]["valid"])
    texts_pipelines = [n for n, s in chosen.items() if s["text"] is not None]
    best = max(texts_pipelines, key=lambda n: chosen[n]["valid"])

    # shuffled-vector control: the best pipeline's parameters, vectors permuted
    spec = chosen[best]
    permutation = np.random.default_rng(0).permutation(len(vectors[spec["text"]]))
    shuffled_train = _with_text(final_train, spec, {
        spec["text"]: vectors[spec["text"]][permutation]})
    control = f"{best} shuffled vectors"
    control_model = spec["make"](**spec["params"]).fit(shuffled_train)
    per_user[control] = test_eval.per_user(control_model)
    test_means[control] = {m: float(v.mean()) for m, v in per_user[control].items()}

    # regimes and paired tests
    regimes = _regimes(final_train, test_eval)
    goal_metric = f"ndcg@{protocol['goal_k']}"
    rows = []
    for regime, (users_mask, relevant) in regimes.items():
        scores = {}
        models = {**{n: chosen[n]["model"] for n in chosen}, control: control_model}
        for name, model in models.items():
            values = per_user[name][goal_metric] if relevant is None else \
                test_eval.per_user(model, relevant)[goal_metric]
            scores[name] = values[users_mask]
        pairs = [(name, plain) for name in
                 [*texts_pipelines, control, "ALS" if plain == "EASE" else "EASE"]]
        pairs += [(name, _own_base(name)) for name in texts_pipelines
                  if _own_base(name) != plain]
        pairs += [(name, _template_twin(name)) for name in texts_pipelines
                  if _template_twin(name) != name]
        for name, baseline in pairs:
            result = paired_test(scores[name], scores[baseline], random_state=0)
            rows.append({"regime": regime, "pipeline": name, "baseline": baseline,
                         "n_users": result.n, "mean": result.mean_a,
                         "baseline_mean": result.mean_b,
                         "ratio": result.mean_a / result.mean_b if result.mean_b else np.nan,
                         "ci_low": result.ci_low, "ci_high": result.ci_high,
                         "p": result.pvalue, "chosen_on_validation": name == best})
    table = pd.DataFrame(rows)
    table["p_holm"] = _holm(table["p"].to_numpy())
    headline = table[(table["regime"] == "all users") & (table["pipeline"] == best)].iloc[0]
    control_row = table[(table["regime"] == "all users") & (table["pipeline"] == control)]
    goal_met = bool(headline["ratio"] >= GOAL_LIFT and headline["p_holm"] < GOAL_P)
    own = table[table["baseline"] != plain]
    return {
        "data": data_name, "protocol": protocol, "quick": quick, "holdout": holdout,
        "min_ratings": min_ratings, "n_items": parts["train"].n_items,
        "summaries": None if summaries is None else Path(summaries).name,
        "versions": versions(), "git": git_state(),
        "below_own_base": own[(own["ratio"] < 1) & (own["p_holm"] < GOAL_P)][
            ["regime", "pipeline", "baseline", "ratio", "p_holm"]].to_dict(orient="records"),
        "best_plain": plain, "best_pipeline": best,
        "chosen": {n: {"params": s["params"], "valid": s["valid"], "text": s["text"]}
                   for n, s in chosen.items()},
        "test_means": test_means, "tests": table.to_dict(orient="records"),
        "goal": {"metric": goal_metric, "ratio": float(headline["ratio"]),
                 "p_holm": float(headline["p_holm"]), "met": goal_met,
                 "shuffled_ratio": float(control_row["ratio"].iloc[0])},
        "validation_log": log, "seconds": time.perf_counter() - started,
    }


def _own_base(name: str) -> str:
    """The model a text pipeline adds text to: ALS+prior -> ALS, Fusion(L3AE) -> L3AE."""
    text = name[name.index("["):]
    if name.startswith("ALS+prior"):
        return "ALS"
    if name.startswith("Fusion(L3AE)"):
        return f"L3AE{text}"
    return "EASE"


def _template_twin(name: str) -> str:
    """The same pipeline on the template text: L3AE[summary] -> L3AE[title_genres]."""
    return name.replace("[summary]", "[title_genres]")


def _als_vectors(item_vectors: np.ndarray, plain_als) -> np.ndarray:
    """Text vectors reduced by PCA to ALS's width, at the RMS of its item factors."""
    from sklearn.decomposition import PCA

    width = plain_als.item_factors_.shape[1]
    reduced = PCA(width, random_state=0).fit_transform(item_vectors)
    scale = np.sqrt(np.mean(plain_als.item_factors_ ** 2) / np.mean(reduced ** 2))
    return (reduced * scale).astype(np.float32)


def _with_text(train, spec: dict, vectors: dict):
    if spec["text"] is None:
        return train
    if "reduce" in spec:  # ALS: PCA'd vectors as an EmbeddingInit
        reduced = spec["reduce"](vectors[spec["text"]])
        return train.with_artifacts(item_embeddings=EmbeddingInit(reduced))
    return train.with_artifacts(item_features=vectors[spec["text"]])


def _fusion_maker(base_params):
    def make(alpha):
        return TextFusionRecommender(EASERecommender(**base_params), alpha=alpha)
    return make


def _regimes(train: InteractionData, evaluator: Evaluator) -> dict:
    """``regime -> (mask over evaluator.users, relevant lists or None)``."""
    seen = train.to_csr(values="ones", include_augmented=False)
    activity = np.diff(seen.tocsr().indptr)[evaluator.users]
    tail_users = activity <= np.quantile(activity, 1 / 3)
    popularity = np.asarray((seen > 0).sum(axis=0)).ravel()
    head = popularity >= np.quantile(popularity, 0.8)
    tail_relevant = [items[~head[items]] for items in evaluator.relevant]
    has_tail = np.array([len(items) > 0 for items in tail_relevant])
    return {"all users": (np.ones(len(evaluator.users), bool), None),
            "long-tail users": (tail_users, None),
            "long-tail items": (has_tail, tail_relevant)}


def _holm(pvalues: np.ndarray) -> np.ndarray:
    order = np.argsort(pvalues)
    adjusted = np.empty_like(pvalues)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted


def result_name(data: str, quick: bool, holdout: int, summaries, min_ratings: int = 5) -> str:
    """``text_lift_<data>[_min<R>][_last<N>][_summaries][_quick]``: the original runs
    keep their names."""
    return (f"text_lift_{data}{f'_min{min_ratings}' if min_ratings != 5 else ''}"
            f"{f'_last{holdout}' if holdout > 1 else ''}"
            f"{'_summaries' if summaries else ''}{'_quick' if quick else ''}")


def _summaries_flag(name) -> str:
    if not name:
        return ""
    return " --summaries" if name == SMALL_SUMMARIES.name else f" --summaries {name}"


def write(result: dict) -> None:
    holdout, min_ratings = result.get("holdout", 1), result.get("min_ratings", 5)
    name = result_name(result["data"], result["quick"], holdout, result.get("summaries"),
                       min_ratings)
    flags = (f"{f' --holdout {holdout}' if holdout > 1 else ''}"
             f"{f' --min-ratings {min_ratings}' if min_ratings != 5 else ''}"
             f"{_summaries_flag(result.get('summaries'))}"
             f"{' --quick' if result['quick'] else ''}")
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1, default=float))
    tests = pd.DataFrame(result["tests"])
    means = pd.DataFrame(result["test_means"]).T
    goal = result["goal"]
    lines = [
        f"# Text lift on {result['data']} ({result['seconds'] / 60:.1f} min)", "",
        f"`python benchmarks/bench_text_lift.py --data {result['data']}{flags}` "
        f"at commit {result['git']['commit']}"
        f"{' (library changed since)' if result['git']['library_changed_since_commit'] else ''}"
        ".", "",
        *([f"Catalogue: the {result['n_items']:,} movies with at least "
           f"{result['min_ratings']} ratings; {holdout} held-out row(s) per user.", ""]
          if result["data"] == "small" and "n_items" in result else []),
        f"Best plain model (validation): **{result['best_plain']}**; best text pipeline "
        f"(validation): **{result['best_pipeline']}**.", "",
        f"Goal (best pipeline >= {GOAL_LIFT}x the best tuned plain model's "
        f"{goal['metric']}, Holm p < {GOAL_P}): **{'met' if goal['met'] else 'not met'}** "
        f"(ratio {goal['ratio']:.3f}, Holm p {goal['p_holm']:.2g}; shuffled-vector "
        f"control ratio {goal['shuffled_ratio']:.3f}).", "",
        "## Test means", "", means.to_markdown(floatfmt=".4f"), "",
        f"## Paired tests of {goal['metric']} (Wilcoxon, Holm over all rows)", "",
        f"Against the best plain model ({result['best_plain']}), and against each "
        "pipeline's own base where that is another model (ALS for ALS+prior, L3AE for "
        "Fusion(L3AE)), and each summary pipeline against the same pipeline on "
        "title_genres (LLM-written against template text). Pipelines significantly below "
        "their own base: "
        f"{len(result['below_own_base'])}.", "",
        tests.to_markdown(index=False, floatfmt=".4g"), "",
        "## Chosen on validation", "",
        pd.DataFrame(result["chosen"]).T.to_markdown(), "",
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("ml1m", "small"), default="ml1m")
    parser.add_argument("--quick", action="store_true",
                        help="a few grid points only (a smoke run; not for claims)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--holdout", type=int, default=1,
                        help="small: test (and validation) rows per user")
    parser.add_argument("--summaries", type=Path, nargs="?", const=SMALL_SUMMARIES,
                        help="small: add the LLM-written summaries of this "
                        "write_item_summaries.py file as a second text (default file: "
                        f"{SMALL_SUMMARIES.name})")
    parser.add_argument("--min-ratings", type=int, default=5,
                        help="small: keep the movies with at least this many ratings")
    args = parser.parse_args(argv)
    if args.data == "ml1m" and (args.holdout != 1 or args.summaries or args.min_ratings != 5):
        parser.error("--holdout, --summaries and --min-ratings are for --data small; "
                     "ml-1m-agent4rec has its own split and summaries")
    write(run(args.data, args.quick, args.holdout, args.summaries, args.min_ratings))


if __name__ == "__main__":
    main()
