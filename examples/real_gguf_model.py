"""A real instruction-tuned GGUF model writes summaries and picks extra interactions.

Everything else in ``examples/`` runs without an LLM. This one drives a local GGUF
model through :class:`skllmers.llm.LlamaCppLLM` (llama.cpp) in both LLM enhancers:

* ``LLMInteractionAugmenter(llm, strategy=LLMSelect())``: for each user, a popularity
  retriever proposes unseen movies, the LLM scores each one on its own (how much
  more likely its title is as the answer after the user's history than without it),
  and the best-scored movie is added;
* ``LLMSummaryFeaturizer(target="both")``: the LLM writes a short knowledge summary
  of each movie and a taste summary of each user, which a sentence encoder turns into
  features for ``LightFMRecommender``.

The data is a small slice of the bundled MovieLens data (the most popular movies and
some of their users), because each summary is one LLM generation: about a second on a
GPU, several on a laptop CPU for a 0.5B model. Every answer is cached, so a second run
makes no LLM call. A model of 0.5B-1.5B parameters in Q4_K_M is enough, e.g.
Qwen2.5-0.5B-Instruct (about 400 MB) or Llama-3.2-1B-Instruct.

Run::

    python examples/real_gguf_model.py path/to/model.gguf
    SKLLMERS_GGUF=path/to/model.gguf python examples/real_gguf_model.py
    python examples/real_gguf_model.py --repo-id Qwen/Qwen2.5-0.5B-Instruct-GGUF \\
        --filename "*q4_k_m.gguf"                    # downloads once (needs a connection)

Without a model it prints what to download and exits with status 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import warnings

HOW_TO_GET_A_MODEL = """\
No GGUF model given: this example needs a local instruction-tuned LLM in GGUF format.
A small one is enough, e.g. Qwen2.5-0.5B-Instruct in Q4_K_M (about 400 MB) from
https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF (file
qwen2.5-0.5b-instruct-q4_k_m.gguf), or Llama-3.2-1B-Instruct-Q4_K_M.gguf from
https://huggingface.co/bartowski/Llama-3.2-1B-Instruct-GGUF. Download it, e.g.

    huggingface-cli download Qwen/Qwen2.5-0.5B-Instruct-GGUF \\
        qwen2.5-0.5b-instruct-q4_k_m.gguf --local-dir models

then pass its path as the first argument or in the SKLLMERS_GGUF environment variable:

    python examples/real_gguf_model.py models/qwen2.5-0.5b-instruct-q4_k_m.gguf
    SKLLMERS_GGUF=models/qwen2.5-0.5b-instruct-q4_k_m.gguf python examples/real_gguf_model.py

or let llama-cpp-python download it on first use (needs a connection):

    python examples/real_gguf_model.py --repo-id Qwen/Qwen2.5-0.5B-Instruct-GGUF \\
        --filename "*q4_k_m.gguf"

With a CUDA build of llama-cpp-python (CMAKE_ARGS="-DGGML_CUDA=on" pip install
llama-cpp-python) every layer is offloaded to the GPU (--n-gpu-layers -1).
Skipping: nothing was run."""


def movielens_slice(n_items: int, n_users: int):
    """The ``n_items`` most rated movies and ``n_users`` users with 5+ rows among them."""
    from skllmers import InteractionData
    from skllmers.datasets import load_movielens

    data = load_movielens("latest-small", verbose=False)
    frame = data.to_pandas()
    popular = frame["item_id"].value_counts().index[:n_items]
    frame = frame[frame["item_id"].isin(popular)]
    active = frame["user_id"].value_counts()
    users = active.index[active >= 5][:n_users]
    frame = frame[frame["user_id"].isin(users)]
    return InteractionData.from_pandas(frame, items=data.items.loc[popular],
                                       rating_col="rating", time_col="timestamp")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_path", nargs="?", default=os.environ.get("SKLLMERS_GGUF"),
                        help="local GGUF file (default: $SKLLMERS_GGUF)")
    parser.add_argument("--repo-id", help="Hugging Face repository to download from")
    parser.add_argument("--filename", help="file name or glob in --repo-id")
    parser.add_argument("--n-items", type=int, default=100, help="most rated movies kept")
    parser.add_argument("--n-users", type=int, default=40, help="users kept")
    parser.add_argument("--n-gpu-layers", type=int, default=-1,
                        help="layers offloaded to the GPU (-1: all; ignored on a CPU build)")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp CPU threads")
    parser.add_argument("--max-tokens", type=int, default=80, help="tokens per summary")
    parser.add_argument("--n-ctx", type=int, default=None,
                        help="context window (default: the model's, at most 4096)")
    parser.add_argument("--chat-format", default="auto",
                        help='"auto" uses the model\'s chat template; "none" sends raw text')
    parser.add_argument("--quick", action="store_true",
                        help="small synthetic data and a hashing encoder (for tests)")
    args = parser.parse_args(argv)

    if args.model_path is None and args.repo_id is None:
        print(HOW_TO_GET_A_MODEL)
        return 0
    if args.model_path is not None and not os.path.isfile(args.model_path):
        parser.error(f"no such GGUF file: {args.model_path}")
    if args.repo_id is not None and args.filename is None:
        parser.error("--repo-id needs --filename (e.g. '*q4_k_m.gguf')")

    # Imported here so that the message above comes at once, with no heavy import.
    import llama_cpp
    import pandas as pd

    from skllmers import LLMInteractionAugmenter, LLMSummaryFeaturizer
    from skllmers.datasets import make_text_signal
    from skllmers.interaction import LLMSelect
    from skllmers.llm import LlamaCppLLM
    from skllmers.metrics import evaluate
    from skllmers.model_selection import DroppedTestRowsWarning, LeaveLastOut
    from skllmers.pipeline import make_pipeline
    from skllmers.recommenders import LightFMRecommender

    llm = LlamaCppLLM(
        args.model_path, repo_id=args.repo_id, filename=args.filename,
        chat_format=None if args.chat_format == "none" else args.chat_format,
        n_gpu_layers=args.n_gpu_layers, n_threads=args.threads,
        max_tokens=args.max_tokens, temperature=0.0, n_ctx=args.n_ctx,
    )
    gpu = "yes" if llama_cpp.llama_supports_gpu_offload() else "no (CPU build)"
    print(f"model: {args.model_path or f'{args.repo_id}/{args.filename}'}; GPU offload: {gpu}")

    if args.quick:
        from skllmers.llm.testing import HashingEncoder

        data = make_text_signal(n_users=20, n_items=30, with_genres=True, random_state=0)
        encoder = HashingEncoder(embed_dim=128)
    else:
        from skllmers.llm import SentenceEncoder

        data = movielens_slice(args.n_items, args.n_users)
        encoder = SentenceEncoder()
    splitter = LeaveLastOut(random_state=0)
    with warnings.catch_warnings():  # held-out movies never trained on are dropped
        warnings.simplefilter("ignore", DroppedTestRowsWarning)
        train_idx, test_idx = next(splitter.split(data))
    train, test = data[train_idx], data[test_idx]
    print(f"{data}\n{len(train)} training rows, {len(test)} held-out rows\n")

    augmenter = LLMInteractionAugmenter(
        llm, strategy=LLMSelect(n_candidates=10, augmented_weight=0.5), random_state=0)
    featurizer = LLMSummaryFeaturizer(llm, encoder, target="both", n_components=16,
                                      random_state=0)
    enhanced = make_pipeline(augmenter, featurizer,
                             LightFMRecommender(n_factors=32, epochs=20, random_state=0))
    base = LightFMRecommender(n_factors=32, epochs=20, random_state=0)

    table = pd.concat([
        evaluate(base, train, test, metrics=["ndcg", "recall"]).assign(model="LightFM"),
        evaluate(enhanced, train, test, metrics=["ndcg", "recall"])
        .assign(model="LLM augmenter + summaries + LightFM"),
    ]).set_index("model")

    titles = data.items["title"]
    print("a few LLM summaries (written in fit, never needed again):")
    summaries = featurizer.summaries_
    for kind in ("item", "user"):
        for _, row in summaries[summaries["kind"] == kind].head(2).iterrows():
            name = titles.get(row["id"], row["id"]) if kind == "item" else f"user {row['id']}"
            print(textwrap.fill(f"[{kind}] {name}: {row['summary']}", 88,
                                subsequent_indent="    "))
    added = augmenter.edited_rows_
    print(f"\nthe LLM picked {augmenter.n_added_} extra interactions "
          f"(weight {augmenter.strategy.augmented_weight}), e.g.:")
    for _, row in added.head(5).iterrows():
        print(f"  user {row['user_id']}: {titles.get(row['item_id'], row['item_id'])}")
    for name, step in [("augmenter", augmenter), ("featurizer", featurizer)]:
        stats = step.llm_stats_
        print(f"{name}: {stats.get('requests', 0)} LLM requests, "
              f"{stats.get('cache_hits', 0)} from the cache, {stats.get('calls', 0)} "
              f"generated, {step.llm_time_:.1f} s")
    print(f"\n{table.round(4).to_string()}")
    print(f"({len(test)} held-out users: differences this small are noise; see "
          "skllmers.metrics.paired_test)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
