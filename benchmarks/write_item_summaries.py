"""Write LLM item summaries for ml-latest-small, resumably, into a committed file.

The issue's last open measurement on the bundled data is LLM-written item text against
title + genres. Qwen2.5-Coder-1.5B needs about 4 s per movie on a 2-core CPU, so the
catalogue (3,650 movies with at least 5 ratings, ``bench_text_lift.load_small``) takes
hours. This script does it in parts: each call summarises the movies not yet in
``results/item_summaries_small_<model>.jsonl`` (most rated first), a chunk at a time,
until ``--minutes`` have passed, and appends each chunk's summaries there. On a CUDA build
of llama-cpp-python every layer goes to the GPU (``--n-gpu-layers``), which should
finish it in minutes. The summaries come from
``LLMSummaryFeaturizer(target="items")`` with its default item prompt on title, year and
genres (the facts of the template text they are compared with), so they are
exactly what the library would write in a fit, and the persistent LLM cache answers any
prompt already paid for.

    nice python benchmarks/write_item_summaries.py --model ~/.cache/skllmers/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf --minutes 30
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import _threads  # noqa: F401  (sets the thread pools before numpy loads)
import numpy as np
from _protocol import git_state, read_jsonl
from bench_text_lift import load_small

from skllmers import InteractionData, LLMSummaryFeaturizer
from skllmers.llm import LlamaCppLLM

RESULTS = Path(__file__).parent / "results"
# The facts of the template text "Title (year). Genres" that the LLM is compared with,
# so a difference comes from what the LLM writes (not from the user-written tags).
TEXT_COLUMNS = ["title", "year", "genres"]


def output_path(model: str) -> Path:
    return RESULTS / f"item_summaries_small_{Path(model).stem}.jsonl"


def pending_items(data: InteractionData, path: Path) -> list:
    """Item ids with no summary in ``path`` yet, the most rated first."""
    done = {record["item_id"] for record in read_jsonl(path)} if path.exists() else set()
    counts = np.bincount(data.item_codes, minlength=data.n_items)
    order = np.argsort(-counts, kind="stable")
    return [data.item_ids[code] for code in order if data.item_ids[code] not in done]


def summarise(data: InteractionData, rows, item_ids: list, llm) -> list[dict]:
    """One featurizer fit on the ``rows`` (``data.to_pandas()``) of ``item_ids``; its item
    summaries as records."""
    frame = rows[rows["item_id"].isin(item_ids)]
    chunk = InteractionData.from_pandas(frame, items=data.items.loc[item_ids])
    featurizer = LLMSummaryFeaturizer(llm, target="items", text_columns=TEXT_COLUMNS,
                                      random_state=0).fit(chunk)
    summaries = featurizer.summaries_
    summaries = summaries[summaries["kind"] == "item"]
    return [{"item_id": int(row.id), "prompt": row.prompt, "summary": row.summary}
            for row in summaries.itertuples()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="path of a GGUF instruct model")
    parser.add_argument("--minutes", type=float, default=30.0,
                        help="stop starting new chunks after this long")
    parser.add_argument("--chunk", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-parallel", type=int, default=8)
    parser.add_argument("--n-gpu-layers", type=int, default=-1,
                        help="layers on the GPU (-1: all; a CPU build ignores it)")
    args = parser.parse_args(argv)

    parts, _, _ = load_small()
    data = parts["full_train"]
    path = output_path(args.model)
    llm = LlamaCppLLM(args.model, n_threads=args.threads, n_parallel=args.n_parallel,
                      n_gpu_layers=args.n_gpu_layers, max_tokens=args.max_tokens,
                      verbose=0)
    meta = {"model": Path(args.model).name, "max_tokens": args.max_tokens,
            "commit": git_state()["commit"]}
    start = time.perf_counter()
    pending = pending_items(data, path)
    rows = data.to_pandas()
    print(f"{len(pending)} of {data.n_items} movies to summarise", flush=True)
    while pending and time.perf_counter() - start < 60 * args.minutes:
        ids, pending = pending[:args.chunk], pending[args.chunk:]
        chunk_start = time.perf_counter()
        records = summarise(data, rows, ids, llm)
        with path.open("a") as f:
            for record in records:
                f.write(json.dumps({**record, **meta}) + "\n")
        print(f"{len(records)} summaries in {time.perf_counter() - chunk_start:.0f} s; "
              f"{len(pending)} left", flush=True)


if __name__ == "__main__":
    main()
