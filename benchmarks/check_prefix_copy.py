"""Does a copied prefix give the logits of reading the prompt whole? (run by hand)

    python benchmarks/check_prefix_copy.py {smollm2,qwen-1.5b}

Reads an item prompt of ``bench_llm.py --batched`` three ways in one context
(one KV stream per sequence) and compares the last token's logits: (A) whole,
in one decode; (B) its 27-token shared prefix in another stream, copied with
``llama_memory_seq_cp``, then the rest (what ``BatchedDecoder`` does);
(C) prefix then rest in one stream, no copy. B == C shows the copy is exact;
A vs C is what splitting a prompt into two decodes does to the logits.
"""

import sys

import numpy as np
import profile_llm_batched as profile
from bench_llm import item_prompts, model_file

from skllmers.llm import LlamaCppLLM

PREFIX = 27  # tokens shared by the chat-wrapped item prompts


def main(name):
    import llama_cpp

    backend = LlamaCppLLM(model_file(name), n_ctx=1024, n_threads=1, cache=None, verbose=0)
    llm = backend._model("generate")
    tokens = profile.prompt_tokens(backend, llm, item_prompts(2))[1]
    context = profile.make_context(llm, 3, unified=False, flash=False)
    ctx = context.ctx
    memory = llama_cpp.llama_get_memory(ctx)
    batch = profile.Batch(512)
    n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(llm.model))

    def read(seq, parts, copy_from=None):
        start = 0
        for index, part in enumerate(parts):
            if copy_from is not None and index == 1:
                llama_cpp.llama_memory_seq_cp(memory, copy_from, seq, -1, -1)
            batch.clear()
            batch.add(
                copy_from if index == 0 and copy_from is not None else seq,
                part,
                start,
                last_logits=index == len(parts) - 1,
            )
            batch.decode(ctx)
            start += len(part)
        row = llama_cpp.llama_get_logits_ith(ctx, batch.n - 1)
        return np.ctypeslib.as_array(row, shape=(n_vocab,)).copy()

    whole = read(0, [tokens])
    copied = read(1, [tokens[:PREFIX], tokens[PREFIX:]], copy_from=2)
    llama_cpp.llama_memory_seq_rm(memory, 0, -1, -1)
    split = read(0, [tokens[:PREFIX], tokens[PREFIX:]])
    context.close()
    print(f"{name}: prompt of {len(tokens)} tokens, logit range {np.ptp(whole):.2f}")
    print(f"  copied prefix vs same split, one stream: max |diff| {np.abs(copied - split).max()}")
    print(
        f"  split in two decodes vs whole:           max |diff| {np.abs(whole - split).max()}"
        f" (argmax {whole.argmax()} vs {split.argmax()})"
    )


if __name__ == "__main__":
    main(sys.argv[1])
