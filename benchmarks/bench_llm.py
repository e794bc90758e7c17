"""Benchmarks of the LLM runtime (run by hand, not in CI).

    python benchmarks/bench_llm.py [--repeats 5] [--texts 256]

Measures, on this machine and in one run:

1. generation speed (tokens/s) on the tiny random llama model, through
   llama-cpp-python directly and through ``LlamaCppLLM`` (its overhead);
2. embeddings/s of all-MiniLM-L6-v2 through sentence-transformers
   (``SentenceEncoder``) and through llama.cpp (the model converted to GGUF
   by ``convert_sentence_transformer_to_gguf``, f16 and q8_0), with ratios;
3. the speed-up of a fully cached second run over the first run.

Every figure is the median of ``--repeats`` timed runs after a warm-up run
(model loading is excluded except where stated).
"""

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from skllmers.llm import (
    LlamaCppLLM,
    SentenceEncoder,
    convert_sentence_transformer_to_gguf,
    make_tiny_llama_gguf,
)

GENERATION_PROMPTS = [
    f"User {i} watched Alien, Heat and Up. Next they will watch" for i in range(8)
]
MAX_TOKENS = 64


def median_seconds(function, repeats):
    """Median wall time of ``function()`` over ``repeats`` runs, after one warm-up."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sample_texts(count, seed=0):
    rng = np.random.default_rng(seed)
    vocabulary = (
        "space opera crime drama heist comedy romance thriller robot alien detective "
        "family musical war western horror mystery animated documentary sequel classic"
    ).split()
    lengths = rng.integers(8, 40, size=count)
    return [f"Item {i}: " + " ".join(rng.choice(vocabulary, size=n)) for i, n in enumerate(lengths)]


def bench_generation(model_path, repeats, threads):
    import llama_cpp

    direct = llama_cpp.Llama(
        str(model_path),
        n_ctx=512,
        verbose=False,
        seed=0,
        n_threads=threads,
        n_threads_batch=threads,
    )
    completions = [
        direct.create_completion(prompt, max_tokens=MAX_TOKENS, temperature=0.0)
        for prompt in GENERATION_PROMPTS
    ]
    n_tokens = sum(completion["usage"]["completion_tokens"] for completion in completions)

    def run_direct():
        for prompt in GENERATION_PROMPTS:
            direct.create_completion(prompt, max_tokens=MAX_TOKENS, temperature=0.0)

    llm = LlamaCppLLM(model_path, max_tokens=MAX_TOKENS, cache=None, verbose=0, n_threads=threads)
    direct_seconds = median_seconds(run_direct, repeats)
    wrapped_seconds = median_seconds(lambda: llm.generate(GENERATION_PROMPTS), repeats)
    print("1. Generation, tiny random llama (2 layers, 64 wide, Q8_0), greedy")
    print(f"   {len(GENERATION_PROMPTS)} prompts, {n_tokens} generated tokens per run")
    print(f"   llama-cpp-python directly : {n_tokens / direct_seconds:10.0f} tokens/s")
    print(f"   LlamaCppLLM.generate      : {n_tokens / wrapped_seconds:10.0f} tokens/s")
    print(f"   ratio wrapper/direct      : {direct_seconds / wrapped_seconds:10.2f}")


def bench_embeddings(folder, texts, repeats, threads):
    encoder = SentenceEncoder(device="cpu", cache=None, verbose=0)
    rates = {"sentence-transformers (torch)": _embed_rate(encoder, texts, repeats)}
    reference = encoder.embed(texts[:64])
    cosines = {}
    for dtype in ("f16", "q8_0"):
        path = convert_sentence_transformer_to_gguf(
            None, folder / f"minilm-{dtype}.gguf", dtype=dtype
        )
        llm = LlamaCppLLM(path, cache=None, verbose=0, n_threads=threads)
        rates[f"llama.cpp GGUF {dtype}"] = _embed_rate(llm, texts, repeats)
        cosines[dtype] = float((llm.embed(texts[:64]) * reference).sum(axis=1).min())
    baseline = rates["sentence-transformers (torch)"]
    print(f"2. Embeddings of all-MiniLM-L6-v2, {len(texts)} texts of 10-45 words, CPU")
    for name, rate in rates.items():
        print(f"   {name:30s}: {rate:8.1f} texts/s   ratio to torch {rate / baseline:5.2f}")
    for dtype, cosine in cosines.items():
        print(f"   min cosine llama.cpp {dtype} vs torch: {cosine:.5f}")


def _embed_rate(backend, texts, repeats):
    return len(texts) / median_seconds(lambda: backend.embed(texts), repeats)


def bench_cache(model_path, texts, repeats, threads):
    print("3. Fully cached second run vs first run (new objects, same cache folder)")
    cases = {
        "SentenceEncoder.embed": lambda cache: SentenceEncoder(
            device="cpu", cache=cache, verbose=0
        ).embed(texts),
        "LlamaCppLLM.generate (tiny)": lambda cache: LlamaCppLLM(
            model_path, max_tokens=MAX_TOKENS, cache=cache, verbose=0, n_threads=threads
        ).generate(GENERATION_PROMPTS * 4),
    }
    for name, run in cases.items():
        first_times, second_times = [], []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as cache:
                start = time.perf_counter()
                run(cache)
                first_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                run(cache)
                second_times.append(time.perf_counter() - start)
        first, second = statistics.median(first_times), statistics.median(second_times)
        print(
            f"   {name:28s}: first {first * 1000:8.1f} ms (model load included), "
            f"cached {second * 1000:7.1f} ms, speed-up {first / second:7.1f}x"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads of torch and llama.cpp (default: theirs)",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    print(f"threads: {args.threads or 'library defaults'}, repeats: {args.repeats}")
    texts = sample_texts(args.texts)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        model_path = make_tiny_llama_gguf(folder / "tiny.gguf")
        bench_generation(model_path, args.repeats, args.threads)
        bench_embeddings(folder, texts, args.repeats, args.threads)
        bench_cache(model_path, texts, args.repeats, args.threads)


if __name__ == "__main__":
    main()
