"""Many prompts decoded together in one llama.cpp context (continuous batching).

One ``llama_batch`` carries tokens of several sequences (one sequence id
each) through one ``llama_decode``: the next token of every sequence that is
generating, and the prompt tokens of sequences just admitted, up to
``n_batch`` tokens. The context holds ``n_seq_max = n_parallel`` sequences,
each in its own stream of the KV cache; a finished sequence's cells are
freed (``llama_memory_seq_rm``) and the next waiting prompt takes its slot.
Each sequence samples with its own sampler chain (its own grammar state and
random stream), built as ``Llama.generate`` builds its sampler.

The prompts of a call usually start alike (the chat template, its default
system prompt, the instruction): that shared prefix is read once, into a
stream of its own, and each admitted sequence starts from a copy of it
(``llama_memory_seq_cp`` copies the stream's cells), as one-at-a-time
decoding reuses the prefix it has in common with the previous prompt.

Why one stream per sequence rather than a unified cache: in a unified cache
a sequence's cells sit after those of the others, so attention adds its
terms in another order and greedy answers drift from one-at-a-time decoding
at near-ties (SmolLM2, 8 prompts: 2 answers differed; with a stream each,
none). The matrix products still see several rows at once, and llama.cpp's
CPU kernels for some quantisation types (the repacked ones, e.g. Q4_K) round
a row differently then: an answer can take another token at a near-tie and
go on differently from there (benchmarks/results/llm_batched*.md counts how
often).
"""

import ctypes
import weakref
from collections import deque
from dataclasses import dataclass, field

import numpy as np

_KV_ROUNDING = 256  # llama.cpp pads the KV cache to this many cells
_MAX_SEQUENCES = 256  # llama.cpp's most sequences per context (LLAMA_MAX_SEQ)
# A shorter shared prefix is read by each sequence: copying a stream costs a
# few token reads' worth of memory traffic.
MIN_SHARED_PREFIX = 8


@dataclass
class DecodeRequest:
    """One prompt to continue: its tokens, a token budget, an optional GBNF grammar."""

    tokens: list
    max_tokens: int
    grammar: str | None = None

    @property
    def kv_cells(self):
        """KV cells the sequence may occupy (the last sampled token is never evaluated)."""
        return len(self.tokens) + self.max_tokens


@dataclass
class _Sequence:
    index: int  # position of the request in the call
    seq_id: int
    request: DecodeRequest
    sampler: object
    pending: list  # prompt tokens not decoded yet
    n_past: int = 0
    answer: list = field(default_factory=list)
    batch_row: int = -1  # row of the batch whose logits this sequence samples from
    next_token: int | None = None


class BatchedDecoder:
    """Decode up to ``n_parallel`` sequences at a time over the weights of a ``Llama``.

    The context (its KV cache) is created on first use, sized to hold the
    ``n_parallel`` longest requests of a call, and reused while it is large
    enough.

    Parameters
    ----------
    llama : llama_cpp.Llama
        Loaded model: its weights, vocabulary and context parameters (threads,
        flash attention...) are shared, not copied.
    n_parallel : int
        Most sequences decoded together.
    n_batch : int
        Most tokens per ``llama_decode``.
    share_prefix : bool, default=True
        Read the prompts' shared prefix once (in one more KV stream) and copy
        it to each sequence, when it has at least ``MIN_SHARED_PREFIX``
        tokens; ``False`` reads every prompt whole.
    """

    def __init__(self, llama, n_parallel, n_batch, share_prefix=True):
        import llama_cpp

        self._llama = llama  # keeps the weights alive while the context lives
        self.n_parallel = int(n_parallel)
        self.n_batch = int(n_batch)
        self.share_prefix = bool(share_prefix)
        # the prefix's stream: one more sequence id, where llama.cpp has room for it
        self._prefix_seq = self.n_parallel if self.n_parallel < _MAX_SEQUENCES else None
        self.shared_prefix_tokens = 0  # of the last call
        self._vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self._context = None
        self.cells_per_sequence = 0
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._finalizer = weakref.finalize(self, _free_batch, self._batch)
        self._views = _batch_views(self._batch, self.n_batch)

    # ---------------------------------------------------------------- context
    def _ensure_context(self, requests):
        import llama_cpp
        from llama_cpp._internals import LlamaContext

        longest = max(request.kv_cells for request in requests)
        per_sequence = -(-longest // _KV_ROUNDING) * _KV_ROUNDING
        if self._context is not None and self.cells_per_sequence >= per_sequence:
            return
        if self._context is not None:
            self._context.close()
            self._context = None
        params = llama_cpp.llama_context_params.from_buffer_copy(self._llama.context_params)
        n_streams = self.n_parallel + (self._prefix_seq is not None)
        params.n_ctx = per_sequence * n_streams
        params.n_batch = self.n_batch
        params.n_ubatch = min(self.n_batch, self._llama.context_params.n_ubatch or self.n_batch)
        params.n_seq_max = n_streams
        # One KV stream per sequence: its cells start at 0 as in a context of its
        # own, so attention sums in the same order and greedy answers match
        # one-at-a-time decoding.
        params.kv_unified = False
        params.embeddings = False
        # LlamaContext (llama-cpp-python's wrapper of llama_init_from_model) frees
        # the context before the model it was made from.
        self._context = LlamaContext(
            model=self._llama._model, params=params, verbose=self._llama.verbose
        )
        self.cells_per_sequence = per_sequence

    def close(self):
        """Free the context and the batch (the weights belong to the ``Llama``)."""
        if self._context is not None:
            self._context.close()
            self._context = None
        self._finalizer()

    # ---------------------------------------------------------------- decoding
    def generate(self, requests, temperature, seed):
        """Sampled tokens of each request, in the order of ``requests``.

        Parameters
        ----------
        requests : list of DecodeRequest
            Prompts already fitted to the per-sequence context.
        temperature : float
            0 is greedy.
        seed : int
            Seed of every sequence's random stream (each restarts from it, as
            one-at-a-time generation does).

        Returns
        -------
        answers : list of list of int
            At most ``max_tokens`` tokens per request, up to (not including)
            an end-of-generation token.
        """
        import llama_cpp

        if not requests:
            return []
        if any(not request.tokens for request in requests):
            raise ValueError("Every request needs at least one prompt token.")
        self._ensure_context(requests)
        ctx = self._context.ctx
        memory = llama_cpp.llama_get_memory(ctx)
        llama_cpp.llama_memory_clear(memory, True)
        prefix = self._read_shared_prefix(ctx, requests)
        waiting = deque(range(len(requests)))
        free_ids = list(range(self.n_parallel - 1, -1, -1))
        active, answers = [], [None] * len(requests)
        try:
            while waiting or active:
                while waiting and free_ids:
                    index = waiting.popleft()
                    request = requests[index]
                    sequence = _Sequence(
                        index=index,
                        seq_id=free_ids.pop(),
                        request=request,
                        sampler=self._sampler(request.grammar, temperature, seed),
                        pending=list(request.tokens[prefix:]),
                        n_past=prefix,
                    )
                    if prefix:  # the stream's cells are copied before the next decode
                        llama_cpp.llama_memory_seq_cp(
                            memory, self._prefix_seq, sequence.seq_id, -1, -1
                        )
                    active.append(sequence)
                self._decode(ctx, active)
                for sequence in [s for s in active if s.batch_row >= 0]:
                    if self._step(ctx, sequence):
                        answers[sequence.index] = sequence.answer
                        llama_cpp.llama_memory_seq_rm(memory, sequence.seq_id, -1, -1)
                        llama_cpp.llama_sampler_free(sequence.sampler)
                        sequence.sampler = None
                        free_ids.append(sequence.seq_id)
                        active.remove(sequence)
        finally:
            for sequence in active:
                if sequence.sampler is not None:
                    llama_cpp.llama_sampler_free(sequence.sampler)
            llama_cpp.llama_memory_clear(memory, True)
        return answers

    def _decode(self, ctx, active):
        """One ``llama_decode``: prompt chunks of the newly admitted sequences, if any,
        else the last token of every generating sequence.

        Prompt tokens never share a decode with generated ones: llama.cpp would
        split such a batch into uneven micro-batches, and a sequence's tokens
        would meet other matrix shapes than one at a time.
        """

        n_tokens = 0

        def add(sequence, tokens, wants_logits):
            nonlocal n_tokens
            end = _fill(self._views, n_tokens, sequence.seq_id, tokens, sequence.n_past)
            sequence.n_past += len(tokens)
            if wants_logits:
                self._views[4][end - 1] = 1
                sequence.batch_row = end - 1
            n_tokens = end

        for sequence in active:
            sequence.batch_row = -1
        reading = [sequence for sequence in active if sequence.pending]
        for sequence in reading:
            room = self.n_batch - n_tokens
            if room <= 0:
                break
            chunk, sequence.pending = sequence.pending[:room], sequence.pending[room:]
            add(sequence, chunk, not sequence.pending)
        if not reading:
            for sequence in active:
                add(sequence, [sequence.next_token], True)
                sequence.next_token = None
        self._run(ctx, n_tokens, len(active))

    def _run(self, ctx, n_tokens, n_sequences):
        import llama_cpp

        self._batch.n_tokens = n_tokens
        status = llama_cpp.llama_decode(ctx, self._batch)
        if status != 0:
            raise RuntimeError(
                f"llama_decode returned {status} for a batch of {n_tokens} tokens over "
                f"{n_sequences} sequences ({self.cells_per_sequence} KV cells each); lower "
                "n_parallel or n_ctx."
            )

    def _read_shared_prefix(self, ctx, requests):
        """Read the tokens every request starts with into the prefix stream; their count.

        0 (nothing read) with ``share_prefix=False``, for a single request, a
        prefix shorter than ``MIN_SHARED_PREFIX``, or without room for the
        prefix stream (``n_parallel`` at llama.cpp's 256 sequences).
        """
        self.shared_prefix_tokens = 0
        if not self.share_prefix or self._prefix_seq is None or len(requests) < 2:
            return 0
        length = shared_prefix_length([request.tokens for request in requests])
        if length < MIN_SHARED_PREFIX:
            return 0
        prefix = requests[0].tokens[:length]
        for start in range(0, length, self.n_batch):
            chunk = prefix[start : start + self.n_batch]
            # no logits: nothing is sampled from the prefix alone
            self._run(ctx, _fill(self._views, 0, self._prefix_seq, chunk, start), 1)
        self.shared_prefix_tokens = length
        return length

    def _step(self, ctx, sequence):
        """Sample the sequence's next token; True when the sequence is finished."""
        import llama_cpp

        sampled = llama_cpp.llama_sampler_sample(sequence.sampler, ctx, sequence.batch_row)
        if llama_cpp.llama_vocab_is_eog(self._vocab, sampled):
            return True
        sequence.answer.append(int(sampled))
        if len(sequence.answer) >= sequence.request.max_tokens:
            return True
        sequence.next_token = int(sampled)
        return False

    def _sampler(self, grammar, temperature, seed):
        """The sampler chain ``Llama.generate`` builds (its repeat penalty of 1.0 is a no-op)."""
        import llama_cpp

        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())

        def add(sampler):
            llama_cpp.llama_sampler_chain_add(chain, sampler)

        if grammar is not None:
            constrained = llama_cpp.llama_sampler_init_grammar(
                self._vocab, grammar.encode("utf-8"), b"root"
            )
            if not constrained:
                llama_cpp.llama_sampler_free(chain)
                raise ValueError(f"llama.cpp could not parse the grammar {grammar[:200]!r}.")
            add(constrained)
        if temperature == 0:
            add(llama_cpp.llama_sampler_init_greedy())
        else:
            add(llama_cpp.llama_sampler_init_top_k(40))
            add(llama_cpp.llama_sampler_init_typical(1.0, 1))
            add(llama_cpp.llama_sampler_init_top_p(0.95, 1))
            add(llama_cpp.llama_sampler_init_min_p(0.05, 1))
            add(llama_cpp.llama_sampler_init_temp(float(temperature)))
            add(llama_cpp.llama_sampler_init_dist(int(seed)))
        return chain


def shared_prefix_length(token_lists):
    """Tokens all the lists start with, leaving each at least one token of its own.

    >>> shared_prefix_length([[1, 2, 3, 4], [1, 2, 3], [1, 2, 5]])
    2
    >>> shared_prefix_length([[1, 2], [1, 2]])
    1
    """
    first = token_lists[0]
    length = min(len(tokens) for tokens in token_lists) - 1
    for tokens in token_lists[1:]:
        common = 0
        while common < length and tokens[common] == first[common]:
            common += 1
        length = common
    return max(length, 0)


def _fill(views, start_row, seq_id, tokens, start_pos):
    """Write ``tokens`` of one sequence from batch row ``start_row``, without logits.

    Returns the row after the last one written.
    """
    token, pos, n_seq_id, seq_ids, logits = views
    end = start_row + len(tokens)
    token[start_row:end] = tokens
    pos[start_row:end] = np.arange(start_pos, start_pos + len(tokens))
    n_seq_id[start_row:end] = 1
    logits[start_row:end] = 0
    for row in range(start_row, end):
        seq_ids[row][0] = seq_id
    return end


def _batch_views(batch, n_tokens):
    """numpy views of the batch's token, position, sequence-count and logits arrays."""
    import llama_cpp

    def view(pointer, ctype):
        address = ctypes.cast(pointer, ctypes.c_void_p).value
        return np.ctypeslib.as_array((ctype * n_tokens).from_address(address))

    return (
        view(batch.token, llama_cpp.llama_token),
        view(batch.pos, llama_cpp.llama_pos),
        view(batch.n_seq_id, ctypes.c_int32),
        batch.seq_id,
        view(batch.logits, ctypes.c_int8),
    )


def _free_batch(batch):
    import llama_cpp

    llama_cpp.llama_batch_free(batch)
