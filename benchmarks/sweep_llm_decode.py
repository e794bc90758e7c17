"""Cost of one llama_decode by batch shape (run by hand, not in CI).

    [GGML_CPU_TILED_MM=0] python benchmarks/sweep_llm_decode.py THREADS {streams,unified} \
        {on,off} B,B,... CHUNK,CHUNK,... ROUNDS

CPU seconds (median over ``ROUNDS`` interleaved rounds) of one decode of one
new token for each of ``B`` sequences, and of a chunk of ``CHUNK`` prompt
tokens of one sequence, for Qwen2.5-1.5B Q4_K_M; ``on``/``off``: llama.cpp's
repacked CPU weight buffers. Prints one line per shape. Used for
``benchmarks/results/llm_batched_kernels_qwen_1thread.md``.
"""

import statistics
import sys
import time

import profile_llm_batched as profile
from bench_llm import item_prompts, model_file

from skllmers.llm import LlamaCppLLM


def main(argv):
    import llama_cpp

    threads, layout, repack = int(argv[0]), argv[1], argv[2] == "on"
    sizes = [int(x) for x in argv[3].split(",")]
    chunks = [int(x) for x in argv[4].split(",")]
    rounds = int(argv[5])
    backend = LlamaCppLLM(
        model_file("qwen-1.5b"), n_ctx=1024, n_threads=threads, cache=None, verbose=0
    )
    llm = profile.load_model(backend, repack)
    tokens = profile.prompt_tokens(backend, llm, item_prompts(16))
    n_seq = max(sizes) + 1
    bench = profile.GenerationBench(llm, tokens, n_seq, layout == "unified", False)
    samples = {("B", s): [] for s in sizes} | {("chunk", c): [] for c in chunks}
    for _ in range(rounds):
        for size in sizes:
            samples["B", size].append(bench.step(size)[1])
        for chunk in chunks:
            seq = n_seq - 1
            llama_cpp.llama_memory_seq_rm(bench.memory, seq, 40, -1)
            bench.batch.clear()
            bench.batch.add(seq, (tokens[0] * 4)[40 : 40 + chunk], 40)
            start = time.process_time()
            bench.batch.decode(bench.ctx)
            samples["chunk", chunk].append(time.process_time() - start)
    for (kind, n), values in samples.items():
        seconds = statistics.median(values)
        print(f"{kind:5s} {n:3d}  cpu {seconds:.4f} s  {n / seconds:6.1f} tok/cpu-s", flush=True)
    bench.close()


if __name__ == "__main__":
    main(sys.argv[1:])
