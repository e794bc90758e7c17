"""Knowledge and interaction enhancement on ml-latest-small: a model with and without them.

Run by hand::

    .venv/bin/python benchmarks/bench_knowledge_interaction.py --seeds 5
    .venv/bin/python benchmarks/bench_knowledge_interaction.py --seeds 2 --model qwen.gguf

For each seed the data is split by ``LeaveLastOut`` (each user's last rating held
out) and three pipelines are fitted on the same training rows:

- the plain recommender (LightFM by default, ``--recommender bpr`` for BPR);
- ``LLMSummaryFeaturizer`` in front of it (``--target users`` by default: 610 users,
  where item summaries would need 9,742 prompts). Without ``--model`` this is the
  encoder-only path: a user is the mean all-MiniLM-L6-v2 vector of the titles and
  genres of their recent training items, reduced by PCA. With ``--model`` a
  llama.cpp model writes a summary of each user's tastes from their training
  history and the encoder embeds it;
- ``LLMInteractionAugmenter`` in front of it. Without ``--model``: the
  ``EmbeddingNeighbors`` strategy (items nearest to the user's history in the
  encoder's space, LLM-InS). With ``--model``: ``LLMSelect`` (the LLM scores each
  item-kNN candidate on its own, LLMRec);
- ``LLMInteractionAugmenter(strategy=Denoise())`` in front of it: the 5% of training
  rows least similar to the rest of their user's history (encoder cosine) are
  dropped (LLMHD; the LLM scorer would need one prompt per row, 100k here).

Reported per pipeline: mean and std over seeds of NDCG@10, Recall@20 and
HitRate@10, a paired Wilcoxon test of per-user NDCG@10 against the plain model,
and the cost of the enhancement stage: LLM requests, cache hits and calls that
reached the model, encoder calls and cache hits, and seconds spent in the LLM and
encoder. The LLM and encoder caches are persistent (``--cache-dir``), so a second
run costs no model call. Writes ``benchmarks/results/knowledge_interaction.{json,md}``
(``knowledge_interaction_llm.*`` with ``--model``).
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
from _protocol import leave_last_out, run_cell, seeds_argument, summarize, write_results
from sklearn.pipeline import make_pipeline
from tqdm.auto import tqdm

from skllmers.datasets import load_movielens
from skllmers.interaction import Denoise, EmbeddingNeighbors, LLMInteractionAugmenter, LLMSelect
from skllmers.knowledge import LLMSummaryFeaturizer
from skllmers.llm import LlamaCppLLM, SentenceEncoder, default_cache_dir
from skllmers.recommenders import LightFMRecommender

BASELINE = "plain"
TEXT_COLUMNS = ["title", "genres"]  # user tags are interactions too: left out of the text


def recommender(kind: str, seed: int):
    if kind == "bpr":
        try:
            from skllmers.recommenders import BPRRecommender
        except ImportError:  # not exported yet
            from skllmers.recommenders._bpr import BPRRecommender

        return BPRRecommender(n_factors=64, random_state=seed)
    return LightFMRecommender(n_factors=64, epochs=30, random_state=seed)


def pipelines(args, seed: int, cache) -> dict:
    """The three pipelines of one seed; each has its own backends, so its counters are its own."""
    def llm():
        if not args.model:
            return None
        return LlamaCppLLM(args.model, n_ctx=args.n_ctx, max_tokens=96, cache=cache,
                           n_jobs=args.n_jobs, verbose=0)

    def encoder():
        return SentenceEncoder(cache=cache, verbose=0)

    featurizer = LLMSummaryFeaturizer(
        llm(), encoder(), target=args.target,
        text_columns=TEXT_COLUMNS, n_components=args.n_components, max_history=30,
        random_state=seed,
    )
    if not args.model:
        augmenter = LLMInteractionAugmenter(
            encoder=encoder(), text_columns=TEXT_COLUMNS, random_state=seed,
            strategy=EmbeddingNeighbors(n_positive=args.n_positive,
                                        augmented_weight=args.augmented_weight),
        )
    else:
        augmenter = LLMInteractionAugmenter(
            llm(), user_fraction=args.user_fraction, max_history=20, random_state=seed,
            strategy=LLMSelect(retriever="item_knn", n_candidates=10,
                               n_positive=args.n_positive,
                               augmented_weight=args.augmented_weight),
        )
    denoiser = LLMInteractionAugmenter(
        encoder=encoder(), strategy=Denoise(fraction=args.denoise_fraction),
        text_columns=TEXT_COLUMNS, random_state=seed,
    )
    return {
        BASELINE: make_pipeline(recommender(args.recommender, seed)),
        "+ LLMSummaryFeaturizer": make_pipeline(featurizer, recommender(args.recommender, seed)),
        "+ LLMInteractionAugmenter": make_pipeline(augmenter,
                                                   recommender(args.recommender, seed)),
        "+ LLMInteractionAugmenter (denoise)": make_pipeline(
            denoiser, recommender(args.recommender, seed)),
    }


def stage_costs(pipeline) -> dict:
    """LLM and encoder counters of the enhancement step of a fitted pipeline."""
    step = pipeline.steps[0][1]
    if len(pipeline.steps) == 1:
        return {}
    costs = {"llm_seconds": float(step.llm_time_)}
    for prefix, stats in (("llm", step.llm_stats_), ("encoder", _encoder_stats(step))):
        for key in ("requests", "cache_hits", "calls"):
            costs[f"{prefix}_{key}"] = int(stats.get(key, 0))
    return costs


def _encoder_stats(step) -> dict:
    encoder = getattr(step, "encoder_", None)
    return encoder.stats() if encoder is not None and hasattr(encoder, "stats") else {}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seeds_argument, default=list(range(5)),
                        help="number of seeds, or a comma-separated list")
    parser.add_argument("--model", help="a GGUF model for llama.cpp (default: encoder only)")
    parser.add_argument("--recommender", choices=["lightfm", "bpr"], default="lightfm")
    parser.add_argument("--target", choices=["items", "users", "both"], default="users",
                        help="what LLMSummaryFeaturizer describes")
    parser.add_argument("--n-components", type=int, default=16)
    parser.add_argument("--n-positive", type=int, default=1)
    parser.add_argument("--augmented-weight", type=float, default=0.1)
    parser.add_argument("--denoise-fraction", type=float, default=0.05)
    parser.add_argument("--user-fraction", type=float, default=1.0)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--cache-dir", default=None,
                        help=f"LLM/encoder cache folder (default {default_cache_dir()})")
    args = parser.parse_args()

    cache = args.cache_dir or True
    data = load_movielens("latest-small")
    cells = []
    for seed in tqdm(args.seeds, desc="seeds"):
        train, test = leave_last_out(data, seed)
        for name, pipeline in pipelines(args, seed, cache).items():
            start = time.perf_counter()
            cell = run_cell(pipeline, train, test)
            cell.update(model=name, seed=seed, total_seconds=time.perf_counter() - start,
                        **stage_costs(pipeline))
            cells.append(cell)
            tqdm.write(f"seed {seed} {name:28s} NDCG@10 {cell['ndcg@10']:.4f} "
                       f"HR@10 {cell['hit_rate@10']:.4f} fit {cell['fit_seconds']:.0f} s")
    summary = summarize(cells, baseline=BASELINE)
    costs = (pd.DataFrame(cells).groupby("model", sort=False)
             .agg({column: "sum" for column in cells[-1] if column.startswith(("llm_", "encoder_"))})
             .reset_index())
    summary = summary.merge(costs, on="model", how="left")
    config = {"data": "ml-latest-small", "split": "LeaveLastOut(n=1)", "seeds": args.seeds,
              "model": args.model, "recommender": args.recommender,
              "target": args.target, "n_components": args.n_components,
              "n_positive": args.n_positive, "denoise_fraction": args.denoise_fraction,
              "augmented_weight": args.augmented_weight, "user_fraction": args.user_fraction,
              "text_columns": TEXT_COLUMNS}
    write_results("knowledge_interaction_llm" if args.model else "knowledge_interaction",
                  cells, summary, config)


if __name__ == "__main__":
    main()
