"""Does the LLM's pick follow the candidates or their order? Position histograms on ml-latest-small.

Run by hand (one llama.cpp thread, about 10 minutes for 40 users with Qwen-1.5B)::

    nice .venv/bin/python benchmarks/bench_choice_order.py --users 40
    .venv/bin/python benchmarks/bench_choice_order.py --model SmolLM2.gguf --users 40

For ``--users`` users of ml-latest-small (drawn with ``--seed``), a popularity
retriever proposes ``--candidates`` unseen movies each. Every method picks one:

- ``LLMSelect(scoring=...)`` for ``pmi``, ``likelihood`` and ``yes`` (each candidate
  scored on its own);
- ``choose`` (the old behaviour, for comparison): the candidates numbered in the
  retriever's order in one prompt, and ``llm.choose_many`` (grammar-constrained)
  returns one line.

Each method is run on the candidates in the retriever's order and again with every
user's candidates reversed. Reported per method: the histogram of the picked
item's position in the retriever's list (1 = most popular), the share of users
whose pick is the single most common position, the share of users whose pick is
the same movie under both orders, the number of distinct movies picked, and the
seconds taken. The reversed runs use a fresh LLM with no cache, so an order-free
method is shown to be order-free by the model, not by the cache. Writes
``benchmarks/results/choice_order_<model>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from skllmers._text import item_titles, recent_histories
from skllmers.datasets import load_movielens
from skllmers.interaction import LLMInteractionAugmenter, LLMSelect, _retrievers
from skllmers.knowledge._prompts import format_history
from skllmers.llm import LlamaCppLLM

MODELS = Path.home() / ".cache" / "skllmers" / "models"
RESULTS = Path(__file__).parent / "results"
OLD_TEMPLATE = (
    "A user has interacted with the following items, oldest first:\n{history}\n\n"
    "Candidate items:\n{candidates}\n\n"
    "Which candidate would this user most like to interact with next? "
    "Answer with one candidate line, exactly as written."
)


def _reverse_candidates(monkey_on: bool):
    """Make the popularity retriever return each user's candidates in reverse order."""
    original = _retrievers.PopularityRetriever.candidates
    if getattr(_retrievers.PopularityRetriever, "_original", None) is None:
        _retrievers.PopularityRetriever._original = original
    base = _retrievers.PopularityRetriever._original

    def reversed_candidates(self, user_codes, n, exclude):
        out = base(self, user_codes, n, exclude)
        for row in out:
            valid = row >= 0
            row[valid] = row[valid][::-1]
        return out

    _retrievers.PopularityRetriever.candidates = reversed_candidates if monkey_on else base


def _llm(args, cache):
    return LlamaCppLLM(model_path=str(args.model), n_threads=args.threads, n_ctx=2048,
                       chat_format="auto", cache=cache, verbose=0)


def _scored_picks(llm, data, scoring, args):
    augmenter = LLMInteractionAugmenter(
        llm, strategy=LLMSelect(n_candidates=args.candidates, scoring=scoring),
        max_history=args.max_history, random_state=args.seed)
    start = time.perf_counter()
    augmenter.fit_resample(data)
    seconds = time.perf_counter() - start
    edits = augmenter.edited_rows_
    return dict(zip(edits["user_id"], zip(edits["item_id"], edits["retriever_rank"].astype(int),
                                          strict=True), strict=True)), seconds


def _choose_picks(llm, data, args):
    users = np.unique(data.user_codes)
    retriever = _retrievers.PopularityRetriever().fit(data)
    seen = data.to_csr(values="ones", include_augmented=False)
    candidates = retriever.candidates(users, args.candidates, seen)
    titles = item_titles(data, None)
    histories = recent_histories(data, args.max_history, args.seed)
    prompts, options = [], []
    for user, row in zip(users, candidates, strict=True):
        row = row[row >= 0]
        lines = [f"{n}. {titles[item]}" for n, item in enumerate(row, start=1)]
        prompts.append(OLD_TEMPLATE.format(history=format_history(titles[histories[user]]),
                                           candidates="\n".join(lines)))
        options.append(lines)
    start = time.perf_counter()
    answers = llm.choose_many(prompts, options)
    seconds = time.perf_counter() - start
    picks = {}
    base = _retrievers.PopularityRetriever._original if hasattr(
        _retrievers.PopularityRetriever, "_original") else None
    straight = (base(retriever, users, args.candidates, seen) if base is not None
                else candidates)
    for user, row, lines, answer, order in zip(users, candidates, options, answers, straight,
                                               strict=True):
        item = row[row >= 0][lines.index(answer)]
        rank = int(np.flatnonzero(order == item)[0]) + 1
        picks[data.user_ids[user]] = (data.item_ids[item], rank)
    return picks, seconds


def _summary(name, picks, reversed_picks, seconds, args):
    ranks = np.array([rank for _, rank in picks.values()])
    histogram = np.bincount(ranks, minlength=args.candidates + 1)[1:]
    same = np.mean([picks[u][0] == reversed_picks[u][0] for u in picks])
    reversed_ranks = np.array([rank for _, rank in reversed_picks.values()])
    return {
        "method": name,
        "users": len(picks),
        "position_histogram": histogram.tolist(),
        "position_histogram_reversed": np.bincount(
            reversed_ranks, minlength=args.candidates + 1)[1:].tolist(),
        "top_position_share": float(histogram.max() / len(picks)),
        "same_pick_both_orders": float(same),
        "distinct_items": len({item for item, _ in picks.values()}),
        "seconds": round(seconds, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path,
                        default=MODELS / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--candidates", type=int, default=5)
    parser.add_argument("--max-history", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default="pmi,likelihood,yes,choose")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="cache of the in-order runs (default: a fresh temporary one)")
    args = parser.parse_args()

    data = load_movielens("latest-small")
    rng = np.random.default_rng(args.seed)
    users = np.sort(rng.choice(np.unique(data.user_codes), size=args.users, replace=False))
    data = data.take(np.flatnonzero(np.isin(data.user_codes, users)))
    import tempfile

    cache = str(args.cache_dir or tempfile.mkdtemp(prefix="choice-order-"))
    rows = []
    for method in args.methods.split(","):
        in_order, reversed_order = {}, {}
        seconds = 0.0
        for reverse, store in ((False, in_order), (True, reversed_order)):
            _reverse_candidates(reverse)
            llm = _llm(args, None if reverse else cache)
            if method == "choose":
                picks, took = _choose_picks(llm, data, args)
            else:
                picks, took = _scored_picks(llm, data, method, args)
                if reverse:  # ranks were read in the reversed list: map back
                    # (every user of ml-latest-small has a full list of candidates)
                    picks = {u: (item, args.candidates + 1 - rank)
                             for u, (item, rank) in picks.items()}
            store.update(picks)
            seconds += took if not reverse else 0.0
            llm.unload()
        _reverse_candidates(False)
        row = _summary(method, in_order, reversed_order, seconds, args)
        print(json.dumps(row), flush=True)
        rows.append(row)
    _write(rows, args)


def _write(rows, args):
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"choice_order_{args.model.stem.lower()}"
    meta = {"model": args.model.name, "users": args.users, "candidates": args.candidates,
            "max_history": args.max_history, "threads": args.threads, "seed": args.seed,
            "methods": args.methods,
            "command": "benchmarks/bench_choice_order.py " + " ".join(
                f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                if k in ("users", "candidates", "max_history", "threads", "seed", "methods"))}
    path = Path(f"{stem}.json")
    if path.exists():  # a rerun of some methods replaces their rows only
        previous = json.loads(path.read_text())
        if {k: v for k, v in previous["meta"].items() if k not in ("command", "methods")} == \
                {k: v for k, v in meta.items() if k not in ("command", "methods")}:
            ran = {row["method"] for row in rows}
            rows = [row for row in previous["rows"] if row["method"] not in ran] + rows
            meta["command"] = previous["meta"]["command"] + "; then " + meta["command"]
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    table = pd.DataFrame(rows).to_markdown(index=False)
    Path(f"{stem}.md").write_text(
        f"# Position of the LLM's pick among {args.candidates} popularity candidates\n\n"
        f"{args.model.name}, {args.users} users of ml-latest-small, history of "
        f"{args.max_history}, {args.threads} thread(s). Position 1 = most popular. "
        "`same_pick_both_orders`: share of users with the same movie when every "
        "candidate list is reversed (fresh model, no cache). `seconds`: the in-order "
        "run, model load included; a method run after another that sent the same "
        "calls (`likelihood` after `pmi`) is answered by the cache.\n\n"
        f"Command: `{meta['command']}`\n\n{table}\n")


if __name__ == "__main__":
    main()
