"""A stand-in LLM that counts what a fit would ask of a real one, and answers for free."""

import math
from collections import Counter

import numpy as np
from sklearn.base import BaseEstimator

from ._base import BaseBackend
from ._cache import make_key
from ._validation import check_options, check_options_list, check_text, check_texts

CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text and BPE tokenizers
DEFAULT_MAX_TOKENS = 128
PLACEHOLDER = "[dry run]"
_OPERATIONS = ("generate", "choose", "score_options")


class DryRunLLM(BaseEstimator):
    """Count the prompts and tokens a fit would send to ``llm``, without calling it.

    Put it where the real LLM goes (``LLMSummaryFeaturizer(llm=DryRunLLM(llm))``),
    fit, then read :meth:`report`. No text is generated and no model is
    run: :meth:`generate` answers ``"[dry run]"`` (a non-empty placeholder,
    so that a transformer takes the answer as given), :meth:`choose` the first option,
    :meth:`score_options` the same log-probability ``log(1 / n_options)``
    for every option. Tokens are counted with ``llm``'s own tokenizer when it
    has one (``llm.count_tokens``, e.g. :meth:`LlamaCppLLM.count_tokens`,
    which reads only the vocabulary and applies the chat template), else
    estimated as one token per 4 characters (rounded up). When ``llm`` has a
    cache, the prompts it already answered are counted as cached: they cost
    nothing in the real run.

    Parameters
    ----------
    llm : object, default=None
        The backend the real fit will use: its tokenizer, ``max_tokens`` and
        cache are read, it is never called. ``None`` counts with the
        4-characters rule and ``max_tokens``.
    tokens_per_second : float, default=None
        Generated tokens per second of the real set-up (as measured by
        ``benchmarks/bench_llm.py``, e.g. with its ``n_parallel``). ``None``:
        no time estimate.
    prompt_tokens_per_second : float, default=None
        Prompt tokens read per second; ``None`` leaves prompt reading out of
        the time estimate (it is small next to generation on long answers).
    max_tokens : int, default=None
        Most tokens generated per prompt; ``None`` uses ``llm.max_tokens``
        (128 if it has none).

    See Also
    --------
    LlamaCppLLM.count_tokens : exact token counts of a GGUF model.

    Notes
    -----
    The report gives an upper bound on generation: each prompt is counted
    with all of ``max_tokens`` (a real answer may stop sooner), each choice
    with the tokens of its longest option plus one. A fit whose later
    prompts quote earlier answers sees the placeholder answers here, so its
    prompt counts are exact but such prompts' token counts are low. Like the
    real backend, repeated prompts are counted once (``n_unique``).

    Examples
    --------
    >>> from skllmers.llm import DryRunLLM
    >>> dry = DryRunLLM(tokens_per_second=20.0, max_tokens=50)
    >>> dry.generate(["Summarise the movie Alien.", "Summarise the movie Heat."])
    ['[dry run]', '[dry run]']
    >>> dry.choose("Which one?", ["Alien", "Heat"])
    'Alien'
    >>> report = dry.report()
    >>> report["n_prompts"], report["prompt_tokens"], report["max_generated_tokens"]
    (3, 17, 103)
    >>> report["estimated_seconds"]
    5.15
    """

    def __init__(
        self, llm=None, *, tokens_per_second=None, prompt_tokens_per_second=None, max_tokens=None
    ):
        self.llm = llm
        self.tokens_per_second = tokens_per_second
        self.prompt_tokens_per_second = prompt_tokens_per_second
        self.max_tokens = max_tokens

    # ----------------------------------------------------------- the interface
    def generate(self, prompts):
        """Count the prompts; answer each with the placeholder ``"[dry run]"``.

        Parameters
        ----------
        prompts : list of str

        Returns
        -------
        texts : list of str
            ``"[dry run]"`` per prompt.

        Examples
        --------
        >>> from skllmers.llm import DryRunLLM
        >>> DryRunLLM().generate(["a", "b"])
        ['[dry run]', '[dry run]']
        """
        prompts = check_texts(prompts, "prompts")
        budget = self._max_tokens()
        self._record("generate", [{"prompt": p} for p in prompts], lambda payload: budget)
        return [PLACEHOLDER for _ in prompts]

    def choose(self, prompt, options):
        """Count the prompt; answer with the first option.

        Parameters
        ----------
        prompt : str
        options : list of str

        Returns
        -------
        answer : str
            ``options[0]``.

        Examples
        --------
        >>> from skllmers.llm import DryRunLLM
        >>> DryRunLLM().choose("Pick", ["Up", "Heat"])
        'Up'
        """
        check_text(prompt, "prompt")
        return self.choose_many([prompt], [check_options(options)])[0]

    def choose_many(self, prompts, options_list):
        """Batched :meth:`choose`.

        Parameters
        ----------
        prompts : list of str
        options_list : list of str, or list of list of str

        Returns
        -------
        answers : list of str

        Examples
        --------
        >>> from skllmers.llm import DryRunLLM
        >>> DryRunLLM().choose_many(["a", "b"], ["Up", "Heat"])
        ['Up', 'Up']
        """
        prompts = check_texts(prompts, "prompts")
        options_list = check_options_list(prompts, options_list)
        payloads = [{"prompt": p, "options": o} for p, o in zip(prompts, options_list, strict=True)]
        self._record("choose", payloads, lambda payload: self._longest_option(payload) + 1)
        return [options[0] for options in options_list]

    def score_options(self, prompt, options):
        """Count the prompt and its options; score every option ``log(1 / n_options)``.

        Parameters
        ----------
        prompt : str
        options : list of str

        Returns
        -------
        logprobs : ndarray of shape (n_options,)

        Examples
        --------
        >>> from skllmers.llm import DryRunLLM
        >>> DryRunLLM().score_options("Pick", ["Up", "Heat"]).round(3).tolist()
        [-0.693, -0.693]
        """
        check_text(prompt, "prompt")
        return self.score_options_many([prompt], [check_options(options)])[0]

    def score_options_many(self, prompts, options_list):
        """Batched :meth:`score_options`.

        Parameters
        ----------
        prompts : list of str
        options_list : list of str, or list of list of str

        Returns
        -------
        logprobs : list of ndarray

        Examples
        --------
        >>> from skllmers.llm import DryRunLLM
        >>> [s.shape for s in DryRunLLM().score_options_many(["a"], [["x", "y", "z"]])]
        [(3,)]
        """
        prompts = check_texts(prompts, "prompts")
        options_list = check_options_list(prompts, options_list)
        payloads = [{"prompt": p, "options": o} for p, o in zip(prompts, options_list, strict=True)]
        self._record("score_options", payloads, lambda payload: 0)
        return [np.full(len(options), -math.log(len(options))) for options in options_list]

    def identity(self, operation=None):
        """What this stand-in is: never the wrapped backend's identity.

        Returns
        -------
        identity : dict

        Examples
        --------
        >>> from skllmers.llm import DryRunLLM
        >>> DryRunLLM().identity()["class"]
        'skllmers.llm.DryRunLLM'
        """
        wrapped = getattr(self.llm, "identity", None)
        return {
            "class": "skllmers.llm.DryRunLLM",
            "model": wrapped(operation) if callable(wrapped) else None,
            "params": {"dry_run": True},
        }

    def stats(self):
        """Counters in the form of the backends' ``stats()`` (``calls`` is always 0).

        Returns
        -------
        stats : dict

        Examples
        --------
        >>> from skllmers.llm import DryRunLLM
        >>> dry = DryRunLLM()
        >>> _ = dry.generate(["a", "a"])
        >>> dry.stats()["requests"], dry.stats()["calls"]
        (2, 0)
        """
        tally = self._tally()
        return {"requests": tally["n_prompts"], "cache_hits": tally["n_cached"], "calls": 0}

    # ----------------------------------------------------------------- report
    def report(self):
        """What the real run would cost, counted since this object was made (or :meth:`reset`).

        Returns
        -------
        report : dict
            ``n_prompts`` (prompts asked, repeats included), ``n_unique``
            (distinct prompts), ``n_cached`` (distinct prompts the cache of
            ``llm`` already answers), ``n_to_compute`` (distinct prompts the
            model would run), ``by_operation`` (``n_to_compute`` of
            ``generate``, ``choose``, ``score_options``), ``prompt_tokens``
            (tokens read for those: the prompts, plus the options scored by
            ``score_options``), ``max_generated_tokens`` (upper bound),
            ``token_count`` (``"tokenizer"`` or ``"chars/4"``),
            ``estimated_seconds`` (``max_generated_tokens /
            tokens_per_second`` plus ``prompt_tokens /
            prompt_tokens_per_second`` when given; ``None`` without
            ``tokens_per_second``).

        Examples
        --------
        >>> from skllmers.llm import DryRunLLM
        >>> dry = DryRunLLM(max_tokens=10)
        >>> _ = dry.generate(["12345678", "12345678"])
        >>> {k: dry.report()[k] for k in ("n_prompts", "n_unique", "prompt_tokens")}
        {'n_prompts': 2, 'n_unique': 1, 'prompt_tokens': 2}
        """
        tally = self._tally()
        report = {
            key: tally[key]
            for key in ("n_prompts", "n_unique", "n_cached", "n_to_compute", "prompt_tokens")
        }
        report["by_operation"] = {op: tally["by_operation"][op] for op in _OPERATIONS}
        report["max_generated_tokens"] = tally["max_generated_tokens"]
        report["token_count"] = "tokenizer" if self._token_counter() else "chars/4"
        report["estimated_seconds"] = self._estimated_seconds(report)
        return report

    def reset(self):
        """Forget the counts (the next fit is counted from zero).

        Returns
        -------
        self : DryRunLLM

        Examples
        --------
        >>> from skllmers.llm import DryRunLLM
        >>> dry = DryRunLLM()
        >>> _ = dry.generate(["a"])
        >>> dry.reset().report()["n_prompts"]
        0
        """
        self.__dict__.pop("_dry_run_tally", None)
        return self

    # ---------------------------------------------------------------- helpers
    def _tally(self):
        tally = self.__dict__.get("_dry_run_tally")
        if tally is None:
            tally = {
                "n_prompts": 0,
                "n_unique": 0,
                "n_cached": 0,
                "n_to_compute": 0,
                "prompt_tokens": 0,
                "max_generated_tokens": 0,
                "by_operation": Counter(),
                "seen": set(),
            }
            self.__dict__["_dry_run_tally"] = tally
        return tally

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_dry_run_tally", None)
        return state

    def _max_tokens(self):
        if self.max_tokens is not None:
            value = self.max_tokens
        else:
            value = getattr(self.llm, "max_tokens", None) or DEFAULT_MAX_TOKENS
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"max_tokens must be a positive integer; got {value!r}.")
        return int(value)

    def _token_counter(self):
        counter = getattr(self.llm, "count_tokens", None)
        return counter if callable(counter) else None

    def _count(self, texts, as_prompt):
        counter = self._token_counter()
        if counter is not None:
            return [int(n) for n in counter(texts, as_prompt=as_prompt)]
        return [math.ceil(len(text) / CHARS_PER_TOKEN) for text in texts]

    def _longest_option(self, payload):
        return max(self._count(payload["options"], as_prompt=False))

    def _cached_keys(self, operation, payloads):
        """Keys of the payloads, those the wrapped backend's cache holds, and if it caches.

        A backend that is not a skllmers ``BaseBackend`` is assumed to cache
        (as the built-in ones do by default) without being asked.
        """
        if not isinstance(self.llm, BaseBackend):
            return [repr(sorted(p.items())) for p in payloads], set(), True
        identity = self.llm.identity(operation)
        keys = [make_key(identity, operation, payload) for payload in payloads]
        cache = self.llm._cache()
        if cache is None:
            return keys, set(), False
        return keys, set(cache.get_many(keys)), True

    def _record(self, operation, payloads, answer_tokens):
        tally = self._tally()
        keys, cached, persistent = self._cached_keys(operation, payloads)
        tally["n_prompts"] += len(payloads)
        # The real backend computes a repeated prompt once per call, and once
        # in all when its cache keeps the answer for the next calls.
        seen = tally["seen"] if persistent else set()
        fresh = {}
        for key, payload in zip(keys, payloads, strict=True):
            if (operation, key) in seen:
                continue
            seen.add((operation, key))
            tally["n_unique"] += 1
            if key in cached:
                tally["n_cached"] += 1
            else:
                fresh[key] = payload
        if not fresh:
            return
        payloads = list(fresh.values())
        tally["n_to_compute"] += len(payloads)
        tally["by_operation"][operation] += len(payloads)
        tally["prompt_tokens"] += sum(self._count([p["prompt"] for p in payloads], True))
        if operation == "score_options":
            for payload in payloads:
                tally["prompt_tokens"] += sum(self._count(payload["options"], as_prompt=False))
        tally["max_generated_tokens"] += sum(answer_tokens(payload) for payload in payloads)

    def _estimated_seconds(self, report):
        if self.tokens_per_second is None:
            return None
        seconds = report["max_generated_tokens"] / _positive(
            self.tokens_per_second, "tokens_per_second"
        )
        if self.prompt_tokens_per_second is not None:
            seconds += report["prompt_tokens"] / _positive(
                self.prompt_tokens_per_second, "prompt_tokens_per_second"
            )
        return round(seconds, 3)


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, int | float | np.number) or value <= 0:
        raise ValueError(f"{name} must be a positive number (tokens per second); got {value!r}.")
    return float(value)
