"""Where the time of batched generation goes (run by hand, not in CI).

    python benchmarks/profile_llm_batched.py --model qwen-1.5b --threads 2 \
        [--batch-sizes 1 4 8 16] [--steps 8] [--tag _qwen_2threads]

Low-level llama.cpp timings on the chat-wrapped item prompts of
``bench_llm.py --batched``, each the median of ``--steps`` decodes:

1. the prompts' token counts (chat template and default system prompt
   included) and the prefix they all share;
2. prompt reading (PP): one ``llama_decode`` of one whole prompt, and of
   several prompts of different sequences in one batch;
3. generation (TG): one ``llama_decode`` of one new token for each of
   ``B`` sequences (each with a prompt already in its KV cache), for every
   batch size, with one KV stream per sequence (``kv_unified=False``, what
   ``BatchedDecoder`` uses) and with one unified stream, flash attention off
   and on: tokens/s of the decode alone, and its ratio to ``B=1``;
4. the Python side of one generated token (greedy sampler call, batch
   filling), against the decode's time.

Writes ``benchmarks/results/llm_batched_profile{tag}.{json,md}``.
"""

import argparse
import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone

import numpy as np
from bench_llm import MODELS, RESULTS, item_prompts, model_file

from skllmers.llm import LlamaCppLLM
from skllmers.llm._batched import _batch_views


def make_context(llm, n_seq, unified, flash, n_batch=512, cells=256):
    import llama_cpp
    from llama_cpp._internals import LlamaContext

    params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
    params.n_ctx = cells * (1 if unified and n_seq == 1 else n_seq)
    params.n_batch = params.n_ubatch = n_batch
    params.n_seq_max = n_seq
    params.kv_unified = unified
    params.flash_attn_type = (
        llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
        if flash
        else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
    )
    return LlamaContext(model=llm._model, params=params, verbose=False)


def load_model(backend, repack):
    """The backend's generation model; ``repack=False`` keeps the weights as in the file."""
    import llama_cpp.llama_cpp as llama_cpp  # the module Llama.__init__ calls

    if repack:
        return backend._model("generate")
    default = llama_cpp.llama_model_default_params

    def no_extra_buffers():
        params = default()
        params.use_extra_bufts = False
        return params

    llama_cpp.llama_model_default_params = no_extra_buffers
    try:
        return backend._model("generate")
    finally:
        llama_cpp.llama_model_default_params = default


class Batch:
    """A llama_batch with numpy views, filled one sequence at a time."""

    def __init__(self, size):
        import llama_cpp

        self.size = size
        self.batch = llama_cpp.llama_batch_init(size, 0, 1)
        self.token, self.pos, self.n_seq_id, self.seq_ids, self.logits = _batch_views(
            self.batch, size
        )
        self.n = 0

    def clear(self):
        self.n = 0

    def add(self, seq_id, tokens, start, last_logits=True):
        end = self.n + len(tokens)
        self.token[self.n : end] = tokens
        self.pos[self.n : end] = np.arange(start, start + len(tokens))
        self.n_seq_id[self.n : end] = 1
        self.logits[self.n : end] = 0
        for row in range(self.n, end):
            self.seq_ids[row][0] = seq_id
        if last_logits:
            self.logits[end - 1] = 1
        self.n = end

    def decode(self, ctx):
        import llama_cpp

        self.batch.n_tokens = self.n
        status = llama_cpp.llama_decode(ctx, self.batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")


def timed(function, repeats):
    """Median wall and CPU seconds of ``function()`` over ``repeats`` runs."""
    walls, cpus = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return statistics.median(walls), statistics.median(cpus)


def prompt_tokens(backend, model, prompts):
    tokens = []
    for prompt in prompts:
        text, tokenize = backend._tokenize_prompt(model, prompt)
        tokens.append(tokenize(text))
    return tokens


def shared_prefix(token_lists):
    prefix = os.path.commonprefix([list(t) for t in token_lists])
    return len(prefix)


def profile_prompt_reading(llm, tokens, repeats, n_seq, prefix):
    """Prompt reading, interleaved: one prompt, its unshared rest, ``n_seq`` prompts in one batch."""
    import llama_cpp

    context = make_context(llm, n_seq, unified=False, flash=False)
    ctx = context.ctx
    memory = llama_cpp.llama_get_memory(ctx)
    batch = Batch(512)

    def one():
        llama_cpp.llama_memory_clear(memory, True)
        batch.clear()
        batch.add(0, tokens[0], 0)
        batch.decode(ctx)

    def rest():  # the shared prefix is in the cache already (not timed)
        llama_cpp.llama_memory_seq_rm(memory, 0, prefix, -1)
        batch.clear()
        batch.add(0, tokens[0][prefix:], prefix)
        batch.decode(ctx)

    def several():
        llama_cpp.llama_memory_clear(memory, True)
        batch.clear()
        for seq, sequence in enumerate(tokens[:n_seq]):
            if batch.n + len(sequence) > batch.size:
                break
            batch.add(seq, sequence, 0)
        batch.decode(ctx)

    several()
    cases = {
        f"one prompt ({len(tokens[0])} tokens)": (one, len(tokens[0])),
        f"its unshared rest ({len(tokens[0]) - prefix} tokens)": (rest, len(tokens[0]) - prefix),
        f"{n_seq} prompts, one batch ({batch.n} tokens)": (several, batch.n),
    }
    samples = {name: ([], []) for name in cases}
    for _ in range(repeats):
        for name, (function, _) in cases.items():
            wall, cpu = timed(function, 1)
            samples[name][0].append(wall)
            samples[name][1].append(cpu)
    context.close()
    return [_rate_row(name, n, *samples[name]) for name, (_, n) in cases.items()]


def _rate_row(name, n_tokens, walls, cpus):
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    return {
        "case": name,
        "tokens": n_tokens,
        "wall_s": round(wall, 4),
        "cpu_s": round(cpu, 4),
        "tokens_per_s": round(n_tokens / wall, 1),
        "tokens_per_cpu_s": round(n_tokens / cpu, 1),
    }


class GenerationBench:
    """One context, its sequences' prompts read (untimed), decodes of one token each."""

    def __init__(self, llm, tokens, n_seq, unified, flash):
        import llama_cpp

        self.context = make_context(llm, n_seq, unified=unified, flash=flash)
        self.ctx = self.context.ctx
        self.batch = Batch(512)
        self.tokens = tokens
        self.lengths = []
        for seq in range(n_seq):
            prompt = tokens[seq % len(tokens)]
            self.batch.clear()
            self.batch.add(seq, prompt, 0)
            self.batch.decode(self.ctx)
            self.lengths.append(len(prompt))
        self.memory = llama_cpp.llama_get_memory(self.ctx)

    def step(self, size, prompt_seq=None):
        """Decode one token of sequences ``0..size-1`` (and a whole prompt for ``prompt_seq``)."""
        import llama_cpp

        self.batch.clear()
        for seq in range(size):
            self.batch.add(seq, [self.tokens[0][-1]], self.lengths[seq])
        if prompt_seq is not None:
            llama_cpp.llama_memory_seq_rm(self.memory, prompt_seq, -1, -1)
            self.batch.add(prompt_seq, self.tokens[prompt_seq % len(self.tokens)], 0)
        start, start_cpu = time.perf_counter(), time.process_time()
        self.batch.decode(self.ctx)
        timing = time.perf_counter() - start, time.process_time() - start_cpu
        for seq in range(size):
            self.lengths[seq] += 1
        return timing

    def close(self):
        self.context.close()


def profile_generation(llm, tokens, batch_sizes, steps, configs):
    """Decode time of one token for each of B sequences, rounds interleaved over set-ups."""
    largest = max(batch_sizes)
    benches = {
        config: GenerationBench(llm, tokens, largest + 1, "unified" in config, "+fa" in config)
        for config in configs
    }
    samples = {(c, b): ([], []) for c in configs for b in batch_sizes}
    mixed = {(c, m): ([], []) for c in configs for m in ("together", "apart")}
    for _ in range(steps):
        for config, bench in benches.items():
            for size in batch_sizes:
                wall, cpu = bench.step(size)
                samples[config, size][0].append(wall)
                samples[config, size][1].append(cpu)
            # 7 generating sequences and a newly admitted prompt: one decode or two
            together = bench.step(7, prompt_seq=largest)
            apart = [
                a + b for a, b in zip(bench.step(7), bench.step(0, prompt_seq=largest), strict=True)
            ]
            for key, timing in (("together", together), ("apart", apart)):
                mixed[config, key][0].append(timing[0])
                mixed[config, key][1].append(timing[1])
    for bench in benches.values():
        bench.close()
    rows = []
    for config in configs:
        for size in batch_sizes:
            row = _rate_row(f"{config}, B={size}", size, *samples[config, size])
            row.update(config=config, sequences=size)
            rows.append(row)
        base = rows[-len(batch_sizes)]
        for row in rows[-len(batch_sizes) :]:
            row["ratio_vs_1"] = round(row["tokens_per_s"] / base["tokens_per_s"], 2)
            row["cpu_ratio_vs_1"] = round(row["tokens_per_cpu_s"] / base["tokens_per_cpu_s"], 2)
    mixed_rows = []
    for config in configs:
        walls = {key: statistics.median(mixed[config, key][0]) for key in ("together", "apart")}
        cpus = {key: statistics.median(mixed[config, key][1]) for key in ("together", "apart")}
        mixed_rows.append(
            {
                "config": config,
                "together_s": round(walls["together"], 4),
                "apart_s": round(walls["apart"], 4),
                "together_cpu_s": round(cpus["together"], 4),
                "apart_cpu_s": round(cpus["apart"], 4),
            }
        )
    return rows, mixed_rows


def profile_python_side(llm, tokens, repeats):
    """Seconds of one greedy sampler call and of filling a batch row."""
    import llama_cpp

    context = make_context(llm, 1, unified=False, flash=False)
    ctx = context.ctx
    batch = Batch(512)
    batch.add(0, tokens[0], 0)
    batch.decode(ctx)
    sampler = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    llama_cpp.llama_sampler_chain_add(sampler, llama_cpp.llama_sampler_init_greedy())
    n = 200
    sample_s, _ = timed(
        lambda: [llama_cpp.llama_sampler_sample(sampler, ctx, -1) for _ in range(n)], repeats
    )

    def fill():
        for _ in range(n):
            batch.clear()
            batch.add(0, [1], 0)

    fill_s, _ = timed(fill, repeats)
    llama_cpp.llama_sampler_free(sampler)
    context.close()
    return {
        "greedy_sample_ms": round(sample_s / n * 1000, 3),
        "batch_row_fill_ms": round(fill_s / n * 1000, 3),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen-1.5b", choices=sorted(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--configs", nargs="+", default=["streams", "unified", "streams+fa", "unified+fa"]
    )
    parser.add_argument(
        "--repack",
        choices=["on", "off"],
        default="on",
        help="off: load without llama.cpp's CPU repacked weight buffers (use_extra_bufts=False)",
    )
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    load_before = os.getloadavg()
    path = model_file(args.model)
    backend = LlamaCppLLM(path, n_ctx=1024, n_threads=args.threads, cache=None, verbose=0)
    llm = load_model(backend, repack=args.repack == "on")
    tokens = prompt_tokens(backend, llm, item_prompts(args.prompts))
    lengths = [len(t) for t in tokens]
    prefix = shared_prefix(tokens)
    result = {
        "prompt_tokens": {
            "min": min(lengths),
            "median": statistics.median(lengths),
            "max": max(lengths),
            "total": sum(lengths),
            "shared_prefix": prefix,
        },
        "prompt_reading": profile_prompt_reading(llm, tokens, args.repeats, 8, prefix),
        "python_side": profile_python_side(llm, tokens, args.repeats),
    }
    print(json.dumps(result, indent=1), flush=True)
    result["generation"], result["mixed"] = profile_generation(
        llm, tokens, args.batch_sizes, args.steps, args.configs
    )
    for row in result["generation"] + result["mixed"]:
        print(row, flush=True)
    command = "python benchmarks/profile_llm_batched.py " + " ".join(
        f"--{key.replace('_', '-')} {' '.join(map(str, value)) if isinstance(value, list) else value}"
        for key, value in vars(args).items()
        if value != ""
    )
    meta = {
        "command": command,
        "model": MODELS[args.model][0],
        "threads": args.threads,
        "repacked_weights": args.repack,
        "GGML_CPU_TILED_MM": os.environ.get("GGML_CPU_TILED_MM", "unset (on)"),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "llama_cpp_python": __import__("llama_cpp").__version__,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    write(args.tag, meta, result)


def write(tag, meta, result):
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"llm_batched_profile{tag}"
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, **result}, indent=2) + "\n")
    p, s = result["prompt_tokens"], result["python_side"]
    lines = [
        f"# Where batched generation spends its time: {meta['model']}, {meta['threads']} thread(s)",
        "",
        f"`{meta['command']}`",
        "",
        f"{meta['date']}, {meta['machine']}, llama-cpp-python {meta['llama_cpp_python']}; "
        f"load average before {meta['load_average_before']}, after "
        f"{meta['load_average_after']}. Repacked weights: {meta['repacked_weights']}; "
        f"GGML_CPU_TILED_MM: {meta['GGML_CPU_TILED_MM']}. A shared machine: wall times are noisy; every table "
        "interleaves its cases, and tokens per CPU-second is the steadier figure.",
        "",
        f"Chat-wrapped prompts: {p['min']}-{p['max']} tokens (median {p['median']}, "
        f"{p['total']} in all), the first {p['shared_prefix']} shared by all of them.",
        "",
        f"Python side per generated token: greedy sampler call {s['greedy_sample_ms']} ms, "
        f"batch row filling {s['batch_row_fill_ms']} ms.",
        "",
        "## Prompt reading (one llama_decode, one KV stream per sequence)",
        "",
        "| case | tokens | wall s | CPU s | tokens/s | tokens per CPU-s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["prompt_reading"]:
        lines.append(
            f"| {row['case']} | {row['tokens']} | {row['wall_s']} | {row['cpu_s']} | "
            f"{row['tokens_per_s']} | {row['tokens_per_cpu_s']} |"
        )
    lines += [
        "",
        "## Generation: one llama_decode of one new token for each of B sequences",
        "",
        "streams: kv_unified=False (one KV stream per sequence, as BatchedDecoder); unified: "
        "one stream; +fa: flash attention on.",
        "",
        "| set-up | B | wall s | CPU s | tokens/s | tokens per CPU-s | ratio vs B=1 | "
        "CPU ratio vs B=1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["generation"]:
        lines.append(
            f"| {row['config']} | {row['sequences']} | {row['wall_s']} | "
            f"{row['cpu_s']} | {row['tokens_per_s']} | {row['tokens_per_cpu_s']} | "
            f"{row['ratio_vs_1']} | {row['cpu_ratio_vs_1']} |"
        )
    lines += [
        "",
        "## A newly admitted prompt while 7 sequences generate: one decode or two",
        "",
        "| set-up | together wall s | apart wall s | together CPU s | apart CPU s |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in result["mixed"]:
        lines.append(
            f"| {row['config']} | {row['together_s']} | {row['apart_s']} | "
            f"{row['together_cpu_s']} | {row['apart_cpu_s']} |"
        )
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {stem}.md")


if __name__ == "__main__":
    main()
