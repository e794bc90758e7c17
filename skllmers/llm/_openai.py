"""A backend over the OpenAI HTTP API: vLLM, llama.cpp's servers, Ollama, OpenAI and the like.

Requests go through the standard library (``urllib``), so the HTTP(S) proxy
settings of the environment apply. Every request has a timeout and is retried
with exponential backoff on HTTP 429, 408 and 5xx, on timeouts and on broken
connections (a ``Retry-After`` header is honoured); any other 4xx and a
malformed reply fail at once with the endpoint and an excerpt of the body.
"""

import json
import math
import os
import random
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from http.client import HTTPException

import numpy as np

from ._base import (
    BaseBackend,
    EmbeddingMixin,
    TextGenerationMixin,
    _describe_payload,
    l2_normalize,
    operation_params,
)
from ._cache import make_key
from ._errors import LLMCallError

ENDPOINTS = ("chat", "completions")
SCORINGS = ("echo", "first_token")
MAX_TOP_LOGPROBS = 20  # OpenAI's and vLLM's default limit
_EXCERPT_CHARS = 300
_MAX_BACKOFF_S = 60.0
_MAX_RETRY_AFTER_S = 600.0
_RETRIED_STATUSES = frozenset({408, 429})


class APIKey:
    """An API key that never shows in ``repr``, ``get_params`` output, logs, cache keys or pickles.

    Pass it as ``OpenAICompatibleLLM(api_key=APIKey("sk-..."))`` when the key
    is not in an environment variable (``api_key_env``, the preferred way).
    Its ``repr`` is ``APIKey('***')``; a pickled copy holds no key (a fitted
    pipeline saved to disk carries no secret), while ``copy``, ``deepcopy``
    and scikit-learn's ``clone`` share the same object.

    Parameters
    ----------
    value : str or None
        The key; ``None`` makes an empty key (what unpickling gives).

    Examples
    --------
    >>> import pickle
    >>> from skllmers.llm import APIKey
    >>> key = APIKey("sk-do-not-show")
    >>> key
    APIKey('***')
    >>> key.reveal()
    'sk-do-not-show'
    >>> b"sk-do-not-show" in pickle.dumps(key)
    False
    >>> pickle.loads(pickle.dumps(key)).is_empty()
    True
    """

    __slots__ = ("_value",)

    def __init__(self, value):
        if value is not None and (not isinstance(value, str) or not value):
            raise TypeError("APIKey takes the key as a non-empty str (or None for no key).")
        self._value = value

    def reveal(self):
        """Return the key itself (for the Authorization header only)."""
        if self._value is None:
            raise ValueError(
                "This APIKey holds no key: keys are dropped when pickled, so a backend "
                "loaded from a pickle (or sent to a worker process) has none. Keep the key "
                "in an environment variable and name it with api_key_env=, or pass a new "
                "APIKey after loading."
            )
        return self._value

    def is_empty(self):
        """Whether this object holds no key."""
        return self._value is None

    def __repr__(self):
        return "APIKey(None)" if self._value is None else "APIKey('***')"

    __str__ = __repr__

    def __reduce__(self):
        return (APIKey, (None,))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


class _RequestFailed(Exception):
    """One HTTP request failed; ``retryable`` says whether sending it again may help."""

    def __init__(self, message, retryable=False, retry_after=None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.attempts = 1


class ServerReplyError(RuntimeError):
    """A server refused a request or answered something this backend cannot read.

    Raised (as the cause of :class:`LLMCallError` with ``on_error="raise"``)
    after the retries for HTTP 429, 408 and 5xx, timeouts and broken
    connections, and at once for any other 4xx or a malformed reply. The
    message names the endpoint and quotes the start of the body.

    Examples
    --------
    >>> from skllmers.llm import LLMCallError, OpenAICompatibleLLM
    >>> closed = OpenAICompatibleLLM("http://127.0.0.1:9/v1", "m", max_retries=0,
    ...                              timeout=5, cache=None, verbose=0)
    >>> try:
    ...     closed.generate(["hi"])
    ... except LLMCallError as error:
    ...     print(type(error.__cause__).__name__)
    ServerReplyError
    """


class OpenAICompatibleLLM(TextGenerationMixin, EmbeddingMixin, BaseBackend):
    """An LLM behind a server that speaks the OpenAI HTTP API.

    Works with vLLM, llama.cpp's ``llama-server``, llama-cpp-python's server,
    Ollama, OpenAI and other servers of ``/v1/chat/completions``,
    ``/v1/completions`` and ``/v1/embeddings`` (see the "LLM servers" page of
    the documentation for each one's ``base_url`` and what it supports). It
    has the interface of :class:`LlamaCppLLM` (``generate``, ``choose``,
    ``score_options``, ``embed``) and its machinery: the persistent
    :class:`LLMCache` (a rerun sends no request), ``on_error``, :meth:`stats`.

    Requests of one call run concurrently, at most ``max_concurrency`` at a
    time. Each has a ``timeout`` and is retried up to ``max_retries`` times,
    waiting ``retry_backoff`` seconds doubled at each retry (with jitter; a
    ``Retry-After`` header overrides the wait), on HTTP 429, 408 and 5xx,
    timeouts and refused or broken connections. Any other 4xx and a reply
    that is not the expected JSON fail at once with a
    :class:`ServerReplyError` naming the endpoint and quoting the body; the
    input then fails as ``on_error`` says.

    Log-probabilities (``score_options`` and ``choose``) come in one of two
    ways, set by ``scoring``:

    ``"echo"`` (exact)
        One ``/v1/completions`` request per option with the prompt followed
        by the option, ``echo=True``, ``logprobs=1`` and ``max_tokens=1``;
        the log-probabilities of the tokens that spell the option are summed.
        vLLM and llama-cpp-python's server give them. llama.cpp's
        ``llama-server``, Ollama and OpenAI's chat models do not: the call
        fails with an error that says so. The prompt is sent raw, through
        ``completion_template`` if given (use it for the model's chat
        format). llama-cpp-python's server shifts these log-probabilities by
        one token unless the prompt begins with the model's BOS token; this
        backend detects the shifted reply and refuses it, so begin
        ``completion_template`` with that token's text (SmolLM2:
        ``<|im_start|>``).
    ``"first_token"`` (approximate, any chat server with ``top_logprobs``)
        One ``/v1/chat/completions`` request per prompt for one token with
        the ``top_logprobs`` most likely first tokens. An option's score is
        the log of the total probability of the listed tokens it begins
        with, ignoring case and leading spaces (``-inf`` if none): only the
        first token of the answer counts, so give options that differ in
        their first word (distinct titles, or labels).

    :meth:`choose` asks for the options' log-probabilities and returns the
    best one, so the answer does not depend on the order of the options:
    the highest mean log-probability per token with ``"echo"`` (long titles
    are not penalised), the highest score with ``"first_token"``; ties go to
    the option first in alphabetical order. An option set with no
    log-probability at all (``-inf`` everywhere) is an error.

    The API key is never stored as text on this object: it is read from the
    environment variable ``api_key_env`` at each request, or held by an
    :class:`APIKey` (``api_key=APIKey("sk-...")``), which shows as ``'***'``,
    is left out of pickles and is never part of a cache key or an error
    message. The cache identity is the model name and ``model_version`` (not
    ``base_url``: the same model behind two deployments shares its cached
    answers; give ``model_version`` a new value when the weights behind a
    name change).

    Parameters
    ----------
    base_url : str
        Root of the API, usually ending in ``/v1``: e.g.
        ``"http://localhost:8000/v1"`` (vLLM, llama.cpp),
        ``"http://localhost:11434/v1"`` (Ollama),
        ``"https://api.openai.com/v1"``.
    model : str
        Model name sent with each request (and part of the cache identity).
    api_key : APIKey, default=None
        The key, wrapped in :class:`APIKey` (a plain ``str`` is refused so
        that it cannot leak through ``repr`` or pickles). ``None`` reads
        ``api_key_env``.
    api_key_env : str or None, default="OPENAI_API_KEY"
        Environment variable holding the key, read at each request (as the
        OpenAI client does); if unset or empty no ``Authorization`` header is
        sent (local servers need none). Note that the key then goes to
        whatever ``base_url`` names. ``None`` never sends a key.
    model_version : str, default=None
        Anything that names the exact weights behind ``model`` (a checkpoint
        hash, a date): part of the cache identity.
    endpoint : {"chat", "completions"}, default="chat"
        How :meth:`generate` asks: ``/v1/chat/completions`` with the prompt as
        a user message (the server applies the chat template), or
        ``/v1/completions`` with the raw prompt (through
        ``completion_template``).
    system_prompt : str, default=None
        System message placed before each prompt on the chat endpoint.
    completion_template : str, default=None
        ``str.format`` template with a ``{prompt}`` field applied to the
        prompt on the completions endpoint (``endpoint="completions"`` and
        ``scoring="echo"``), e.g. a model's chat format; ``None`` sends the
        prompt as is.
    temperature : float, default=0.0
        Sampling temperature of :meth:`generate`; 0 is greedy.
    max_tokens : int, default=128
        Most tokens generated per prompt.
    seed : int or None, default=0
        Sampling seed sent with each generation request (``None``: none sent).
    scoring : {"echo", "first_token"}, default="echo"
        Where log-probabilities come from (see above).
    top_logprobs : int, default=20
        Alternatives asked for with ``scoring="first_token"`` (1 to 20).
    embedding_model : str, default=None
        Model name for :meth:`embed` (``None``: ``model``), e.g.
        ``"text-embedding-3-small"``.
    dimensions : int, default=None
        Embedding size asked from the server (OpenAI's ``dimensions``);
        ``None`` keeps the model's.
    batch_size : int, default=32
        Texts per ``/v1/embeddings`` request.
    normalize : bool, default=True
        L2-normalise embeddings.
    extra_body : dict, default=None
        Extra JSON fields merged into every chat and completions request
        (e.g. vLLM's ``{"top_k": 20}``); part of the cache identity.
    max_concurrency : int, default=4
        Most requests in flight at once.
    timeout : float, default=60.0
        Seconds to wait for a connection or for data before a request counts
        as timed out (and is retried).
    max_retries : int, default=3
        Retries of a request after a retryable failure.
    retry_backoff : float, default=1.0
        Seconds before the first retry, doubled at each further one (at most
        60 s), with random jitter of up to half the wait.
    cache : bool, str, path-like or LLMCache, default=True
        ``True`` uses the shared cache in :func:`default_cache_dir`, a path a
        cache in that folder, ``None``/``False`` no cache.
    on_error : {"raise", "skip"}, default="raise"
        When an input's request fails for good: raise :class:`LLMCallError`
        (the :class:`ServerReplyError` is its cause), or record the input as
        missing (``None``; a row of ``NaN`` for :meth:`embed`) and count it
        in :meth:`stats`. Answers already received are cached either way.
    verbose : int, default=1
        0: silent; 1 or more: progress bars.

    Notes
    -----
    In :meth:`stats`, ``calls`` counts HTTP requests (``scoring="echo"``
    sends one per option, :meth:`embed` one per batch) and ``retries`` the
    requests sent again.

    See Also
    --------
    LlamaCppLLM : the same interface over a local GGUF file.

    Examples
    --------
    >>> import pickle
    >>> from skllmers.llm import APIKey, OpenAICompatibleLLM
    >>> llm = OpenAICompatibleLLM(
    ...     "http://localhost:8000/v1", "Qwen/Qwen2.5-1.5B-Instruct",
    ...     api_key=APIKey("sk-secret"), model_version="2024-09", verbose=0,
    ... )
    >>> llm.identity("generate")["model"]
    {'model': 'Qwen/Qwen2.5-1.5B-Instruct', 'model_version': '2024-09'}
    >>> llm.get_params()["api_key"]
    APIKey('***')
    >>> "sk-secret" in repr(llm) or b"sk-secret" in pickle.dumps(llm)
    False
    >>> llm.generate(["Describe the film Heat in one sentence."])  # doctest: +SKIP
    ['A 1995 crime thriller in which ...']
    >>> llm.choose("A user who loves heist films would enjoy", ["Heat", "Up"])  # doctest: +SKIP
    'Heat'
    >>> llm.embed(["a heist film"]).shape  # doctest: +SKIP
    (1, 1536)
    """

    # Concurrency is the pool of max_concurrency requests; BaseBackend's
    # joblib workers (n_jobs, backend) add nothing to HTTP calls.
    n_jobs = None
    backend = None

    def __init__(
        self,
        base_url,
        model,
        *,
        api_key=None,
        api_key_env="OPENAI_API_KEY",
        model_version=None,
        endpoint="chat",
        system_prompt=None,
        completion_template=None,
        temperature=0.0,
        max_tokens=128,
        seed=0,
        scoring="echo",
        top_logprobs=MAX_TOP_LOGPROBS,
        embedding_model=None,
        dimensions=None,
        batch_size=32,
        normalize=True,
        extra_body=None,
        max_concurrency=4,
        timeout=60.0,
        max_retries=3,
        retry_backoff=1.0,
        cache=True,
        on_error="raise",
        verbose=1,
    ):
        self.base_url = base_url
        self.model = model
        self.api_key = api_key
        self.api_key_env = api_key_env
        self.model_version = model_version
        self.endpoint = endpoint
        self.system_prompt = system_prompt
        self.completion_template = completion_template
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.scoring = scoring
        self.top_logprobs = top_logprobs
        self.embedding_model = embedding_model
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.normalize = normalize
        self.extra_body = extra_body
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.cache = cache
        self.on_error = on_error
        self.verbose = verbose

    # ------------------------------------------------------------ parameters
    def _check_run_params(self):
        super()._check_run_params()
        if not isinstance(self.base_url, str) or not self.base_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError(
                f"base_url must be an http:// or https:// URL such as "
                f"'http://localhost:8000/v1'; got {self.base_url!r}."
            )
        for name in ("model", "embedding_model"):
            value = getattr(self, name)
            if not (value is None and name == "embedding_model") and (
                not isinstance(value, str) or not value
            ):
                raise ValueError(f"{name} must be a non-empty model name; got {value!r}.")
        if self.api_key is not None and not isinstance(self.api_key, APIKey):
            raise TypeError(
                "api_key takes an APIKey, so that the key never shows in repr, get_params "
                "or pickles: pass api_key=APIKey('sk-...'), or put the key in an "
                "environment variable and name it with api_key_env= (default OPENAI_API_KEY)."
            )
        if self.api_key is not None:
            self.api_key.reveal()  # an emptied (unpickled) key: say so before any request
        if self.api_key_env is not None and not isinstance(self.api_key_env, str):
            raise TypeError(f"api_key_env must be None or a str; got {self.api_key_env!r}.")
        _check_choice(self.endpoint, ENDPOINTS, "endpoint")
        _check_choice(self.scoring, SCORINGS, "scoring")
        _check_positive_int(self.max_tokens, "max_tokens")
        _check_positive_int(self.batch_size, "batch_size")
        _check_positive_int(self.max_concurrency, "max_concurrency")
        if self.dimensions is not None:
            _check_positive_int(self.dimensions, "dimensions")
        _check_positive_int(self.top_logprobs, "top_logprobs")
        if self.top_logprobs > MAX_TOP_LOGPROBS:
            raise ValueError(
                f"top_logprobs must be at most {MAX_TOP_LOGPROBS} (the servers' limit); "
                f"got {self.top_logprobs!r}."
            )
        if isinstance(self.timeout, bool) or not (
            isinstance(self.timeout, (int, float)) and self.timeout > 0
        ):
            raise ValueError(f"timeout must be a positive number of seconds; got {self.timeout!r}.")
        if isinstance(self.retry_backoff, bool) or not (
            isinstance(self.retry_backoff, (int, float)) and self.retry_backoff >= 0
        ):
            raise ValueError(
                f"retry_backoff must be a non-negative number of seconds; got "
                f"{self.retry_backoff!r}."
            )
        if self.completion_template is not None:
            _check_template(self.completion_template)
        if self.extra_body is not None:
            if not isinstance(self.extra_body, dict):
                raise TypeError(f"extra_body must be a dict or None; got {self.extra_body!r}.")
            try:
                json.dumps(self.extra_body)
            except (TypeError, ValueError) as error:
                raise TypeError(f"extra_body must be JSON-serialisable: {error}.") from None

    # -------------------------------------------------------------- identity
    def _model_identity(self):
        return {"model": self.model, "model_version": self.model_version}

    def _output_params(self, operation):
        extra = dict(sorted((self.extra_body or {}).items()))
        prompt_params = {
            "system_prompt": self.system_prompt,
            "completion_template": self.completion_template,
            "extra_body": extra,
        }
        scoring_params = {
            **prompt_params,
            "scoring": self.scoring,
            "top_logprobs": self.top_logprobs if self.scoring == "first_token" else None,
        }
        by_operation = {
            "generate": {
                **prompt_params,
                "endpoint": self.endpoint,
                "temperature": self.temperature,
                "max_tokens": self.max_tokens,
                "seed": self.seed,
            },
            "choose": scoring_params,
            "score_options": scoring_params,
            "embed": {
                "embedding_model": self.embedding_model,
                "dimensions": self.dimensions,
                "normalize": bool(self.normalize),
            },
        }
        return operation_params(by_operation, operation)

    # ------------------------------------------------------------------ HTTP
    def _url(self, path):
        return self.base_url.rstrip("/") + "/" + path

    def _api_key(self):
        if self.api_key is not None:
            return self.api_key.reveal()
        if self.api_key_env:
            return os.environ.get(self.api_key_env) or None
        return None

    def _post(self, path, body):
        """One POST; the decoded JSON object of the reply, or a _RequestFailed."""
        url = self._url(path)
        key = self._api_key()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(
            url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
        )
        where = f"POST {url}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise _http_failure(where, error, key) from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise _timeout_failure(where, self.timeout) from None
            raise _RequestFailed(
                f"{where} could not connect ({error.reason}); check that the server is "
                "running and that base_url is right.",
                retryable=True,
            ) from None
        except TimeoutError:
            raise _timeout_failure(where, self.timeout) from None
        except (ConnectionError, HTTPException, OSError) as error:
            raise _RequestFailed(
                f"{where}: the connection broke ({type(error).__name__}: {error}).",
                retryable=True,
            ) from None
        return _decode_reply(where, raw, key)

    def _request(self, path, body, counts):
        """POST with retries and backoff; ``counts`` gets the requests sent and retried."""
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            counts["calls"] += 1
            try:
                return self._post(path, body)
            except _RequestFailed as error:
                if not error.retryable or attempt == attempts - 1:
                    error.attempts = attempt + 1
                    raise
                counts["retries"] += 1
                time.sleep(self._wait_before_retry(attempt, error.retry_after))

    def _wait_before_retry(self, attempt, retry_after):
        if retry_after is not None:
            return min(retry_after, _MAX_RETRY_AFTER_S)
        wait = min(float(self.retry_backoff) * 2.0**attempt, _MAX_BACKOFF_S)
        return wait * (0.5 + 0.5 * random.random())

    def _send_all(self, jobs):
        """Run ``(path, body, parse)`` jobs, at most ``max_concurrency`` at a time.

        Returns one ``(outcome, counts)`` per job, in order, where the outcome
        is the parsed reply or the :class:`_RequestFailed` that ended it.
        """

        def run(job):
            path, body, parse = job
            counts = {"calls": 0, "retries": 0}
            try:
                reply = self._request(path, body, counts)
                return parse(reply, self._url(path)), counts
            except _RequestFailed as error:
                return error, counts

        workers = min(int(self.max_concurrency), len(jobs))
        if workers <= 1:
            return [run(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(run, jobs))

    # --------------------------------------------------- running the requests
    def _chunk_size(self, operation, n_items, in_process):
        if not in_process:
            return super()._chunk_size(operation, n_items, in_process)
        if operation == "embed":
            return int(self.batch_size) * int(self.max_concurrency)
        return 4 * int(self.max_concurrency)

    def _attempts(self, operation, payloads, report, attempts):
        # BaseBackend calls this for a chunk of several inputs, and when it
        # raises it computes the same chunk again input by input. Each request
        # here carries its own retries, so the chunk is computed once: a final
        # error is kept for _compute_each to raise again at once.
        try:
            return self._compute_each(operation, payloads, report)
        except LLMCallError as error:
            self._runtime().raise_again = error
            raise

    def _compute_each(self, operation, payloads, report):
        runtime = self._runtime()
        earlier = getattr(runtime, "raise_again", None)
        if earlier is not None:
            runtime.raise_again = None
            raise earlier
        if operation == "embed":
            outcomes = self._embed_outcomes(payloads, report)
        else:
            outcomes = self._text_outcomes(operation, payloads, report)
        failed = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, _RequestFailed)]
        if failed and self.on_error == "raise":
            self._cache_successes(operation, payloads, outcomes)
            self._absorb(report)  # the requests sent count in stats() even though this raises
            index = failed[0]
            raise LLMCallError(
                self._failure_message(operation, payloads[index], outcomes[index])
                + ". Set on_error='skip' to record such inputs as missing (None) and go on."
            ) from ServerReplyError(str(outcomes[index]))
        values = []
        for payload, outcome in zip(payloads, outcomes, strict=True):
            if isinstance(outcome, _RequestFailed):
                report.failures += 1
                report.errors.append(self._failure_message(operation, payload, outcome))
                values.append(None)
            else:
                values.append(outcome)
        return values

    def _failure_message(self, operation, payload, error):
        return (
            f"{type(self).__name__}.{operation} failed on input {_describe_payload(payload)} "
            f"after {error.attempts} attempt(s): {error}"
        )

    def _cache_successes(self, operation, payloads, outcomes):
        """Keep the answers received before raising (BaseBackend only caches returned chunks)."""
        cache = self._cache()
        if cache is None:
            return
        identity = self.identity(operation)
        cache.set_many(
            {
                make_key(identity, operation, payload): outcome
                for payload, outcome in zip(payloads, outcomes, strict=True)
                if not isinstance(outcome, _RequestFailed)
            }
        )

    def _text_outcomes(self, operation, payloads, report):
        plans = [self._plan(operation, payload) for payload in payloads]
        jobs = [job for job_list, _ in plans for job in job_list]
        results = self._send_all(jobs)
        _count(report, results)
        outcomes, start = [], 0
        for job_list, finish in plans:
            replies = [outcome for outcome, _ in results[start : start + len(job_list)]]
            start += len(job_list)
            outcomes.append(_finish(finish, replies))
        return outcomes

    def _plan(self, operation, payload):
        """The requests one input needs, and how their parsed replies become its answer."""
        prompt = payload["prompt"]
        if operation == "generate":
            if self.endpoint == "chat":
                body = {**self._chat_body(prompt), "max_tokens": int(self.max_tokens)}
                job = ("chat/completions", self._with_sampling(body), _parse_chat_text)
            else:
                body = self._completion_body(self._completion_prompt(prompt))
                body["max_tokens"] = int(self.max_tokens)
                job = ("completions", self._with_sampling(body), _parse_completion_text)
            return [job], lambda replies: replies[0]
        options = payload["options"]
        if self.scoring == "echo":
            text = self._completion_prompt(prompt)
            jobs = [self._echo_job(text, option) for option in options]
        else:
            jobs = [self._first_token_job(prompt, options)]
        return jobs, lambda replies: _answer(operation, self.scoring, options, replies)

    def _chat_body(self, prompt):
        messages = [{"role": "user", "content": prompt}]
        if self.system_prompt is not None:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return {**(self.extra_body or {}), "model": self.model, "messages": messages}

    def _completion_body(self, text):
        return {**(self.extra_body or {}), "model": self.model, "prompt": text}

    def _with_sampling(self, body):
        body["temperature"] = float(self.temperature)
        if self.seed is not None:
            body["seed"] = int(self.seed)
        return body

    def _completion_prompt(self, prompt):
        if self.completion_template is None:
            return prompt
        return self.completion_template.format(prompt=prompt)

    def _echo_job(self, text, option):
        body = self._completion_body(text + option)
        body.update(max_tokens=1, temperature=0.0, echo=True, logprobs=1)

        def parse(reply, url):
            return _parse_echo(reply, url, text, option)

        return "completions", body, parse

    def _first_token_job(self, prompt, options):
        body = self._chat_body(prompt)
        body.update(
            max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=int(self.top_logprobs)
        )

        def parse(reply, url):
            return _first_token_scores(_parse_top_logprobs(reply, url), options)

        return "chat/completions", body, parse

    # ------------------------------------------------------------- embedding
    def _embed_outcomes(self, payloads, report):
        texts = [payload["text"] for payload in payloads]
        outcomes = [None] * len(texts)
        nonempty = [i for i, text in enumerate(texts) if text]
        size = int(self.batch_size)
        batches = [nonempty[start : start + size] for start in range(0, len(nonempty), size)]
        results = self._send_all([self._embedding_job([texts[i] for i in b]) for b in batches])
        _count(report, results)
        alone = []
        for batch, (outcome, _) in zip(batches, results, strict=True):
            if isinstance(outcome, _RequestFailed) and len(batch) > 1 and not outcome.retryable:
                alone.extend(batch)  # find the text(s) the server refuses
                continue
            for position, index in enumerate(batch):
                outcomes[index] = (
                    outcome if isinstance(outcome, _RequestFailed) else (outcome[position])
                )
        if alone:
            retried = self._send_all([self._embedding_job([texts[i]]) for i in alone])
            _count(report, retried)
            for index, (outcome, _) in zip(alone, retried, strict=True):
                outcomes[index] = outcome if isinstance(outcome, _RequestFailed) else outcome[0]
        self._fill_empty_texts(texts, outcomes)
        return [
            outcome
            if isinstance(outcome, _RequestFailed) or not self.normalize
            else l2_normalize(outcome[None, :])[0]
            for outcome in outcomes
        ]

    def _embedding_job(self, texts):
        body = {"model": self.embedding_model or self.model, "input": texts}
        body["encoding_format"] = "float"
        if self.dimensions is not None:
            body["dimensions"] = int(self.dimensions)

        def parse(reply, url):
            vectors = _parse_embeddings(reply, url, len(texts))
            self._runtime().embedding_dim = vectors[0].shape[0]
            return vectors

        return "embeddings", body, parse

    def _fill_empty_texts(self, texts, outcomes):
        """Empty texts embed to zeros (servers such as OpenAI's refuse them)."""
        empty = [i for i, text in enumerate(texts) if not text]
        if empty:
            zeros = np.zeros(self._embedding_dimension(), dtype=np.float32)
            for index in empty:
                outcomes[index] = zeros.copy()

    def _embedding_dimension(self):
        known = getattr(self._runtime(), "embedding_dim", None)
        if known is not None:
            return int(known)
        if self.dimensions is not None:
            return int(self.dimensions)
        path, body, parse = self._embedding_job(["dimension probe"])
        counts = {"calls": 0, "retries": 0}
        try:
            return int(parse(self._request(path, body, counts), self._url(path))[0].shape[0])
        except _RequestFailed as error:
            raise LLMCallError(
                f"{type(self).__name__}.embed cannot tell the embedding size: {error}. "
                "Set dimensions= to the model's embedding size."
            ) from ServerReplyError(str(error))


# ------------------------------------------------------------------ helpers
def _check_choice(value, choices, name):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}.")


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")


def _check_template(template):
    if not isinstance(template, str):
        raise TypeError(f"completion_template must be a str or None; got {template!r}.")
    try:
        filled = template.format(prompt="\0")
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(
            f"completion_template must be a str.format template whose only field is "
            f"{{prompt}} (write literal braces as {{{{ and }}}}); formatting it failed with "
            f"{type(error).__name__}: {error}."
        ) from None
    if "\0" not in filled:
        raise ValueError(
            "completion_template has no {prompt} field; add one where the prompt goes."
        )


def _count(report, results):
    for _, counts in results:
        report.calls += counts["calls"]
        report.retries += counts["retries"]


def _finish(finish, replies):
    failure = next((reply for reply in replies if isinstance(reply, _RequestFailed)), None)
    if failure is not None:
        return failure
    try:
        return finish(replies)
    except _RequestFailed as error:
        return error


def _excerpt(text, key=None):
    text = text if isinstance(text, str) else text.decode("utf-8", errors="replace")
    if key:
        text = text.replace(key, "***")
    text = " ".join(text.split())
    return repr(text if len(text) <= _EXCERPT_CHARS else text[: _EXCERPT_CHARS - 3] + "...")


def _retry_after(value):
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _http_failure(where, error, key):
    try:
        body = error.read()
    except Exception:  # the body is only quoted; a broken one must not hide the status
        body = b""
    status = error.code
    retryable = status in _RETRIED_STATUSES or status >= 500
    hint = {
        401: " Set the environment variable named by api_key_env, or pass api_key=APIKey(...).",
        403: " The key is not allowed to use this model or endpoint.",
        404: " Check base_url (it usually ends in /v1) and that the server has this endpoint.",
    }.get(status, "")
    return _RequestFailed(
        f"{where} answered HTTP {status} {error.reason}: {_excerpt(body, key)}.{hint}",
        retryable=retryable,
        retry_after=_retry_after(error.headers.get("Retry-After")) if error.headers else None,
    )


def _timeout_failure(where, timeout):
    return _RequestFailed(
        f"{where} timed out: no answer within timeout={timeout} s.", retryable=True
    )


def _decode_reply(where, raw, key):
    try:
        reply = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise _RequestFailed(
            f"{where} returned a reply that is not JSON ({type(error).__name__}): "
            f"{_excerpt(raw, key)}."
        ) from None
    if not isinstance(reply, dict):
        raise _RequestFailed(f"{where} returned JSON that is not an object: {_excerpt(raw, key)}.")
    return reply


def _malformed(url, reply, what):
    return _RequestFailed(f"POST {url} returned no {what}: {_excerpt(json.dumps(reply))}.")


def _first_choice(reply, url):
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _malformed(url, reply, "choices[0]")
    return choices[0]


def _parse_chat_text(reply, url):
    message = _first_choice(reply, url).get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise _malformed(url, reply, "text in choices[0].message.content")
    return content


def _parse_completion_text(reply, url):
    text = _first_choice(reply, url).get("text")
    if not isinstance(text, str):
        raise _malformed(url, reply, "text in choices[0].text")
    return text


_NO_ECHO = (
    "; this server gives no log-probabilities of the prompt (llama.cpp's llama-server, "
    "Ollama and OpenAI's chat models do not): use scoring='first_token'"
)


def _parse_echo(reply, url, text, option):
    """Sum and number of the log-probabilities of the tokens that spell ``option``."""
    tokens, values, generated = _echoed_tokens(reply, url, text + option)
    end = _option_end(tokens, generated, option, url)
    start, position, total, count = end - len(option), 0, 0.0, 0
    for token, value in zip(tokens, values, strict=True):
        token_start, position = position, position + len(token)
        if position <= start or token_start >= end:
            continue  # a token straddling the prompt's end carries option text: it counts
        if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
            raise _RequestFailed(
                f"POST {url} returned no log-probability for the token {token!r} of the option "
                f"{option!r} (an empty prompt cannot be scored: its first token has none)."
            )
        total += float(value)
        count += 1
    if count == 0:
        raise _RequestFailed(f"POST {url}: no echoed token spells the option {option!r}.")
    return total, count


def _echoed_tokens(reply, url, full):
    """Tokens and log-probabilities of an echo reply, and the text generated after ``full``."""
    choice = _first_choice(reply, url)
    logprobs, echoed = choice.get("logprobs"), choice.get("text")
    if not isinstance(logprobs, dict) or not isinstance(echoed, str):
        raise _RequestFailed(
            f"POST {url} returned no choices[0].logprobs with echo=True{_NO_ECHO}: "
            f"{_excerpt(json.dumps(reply))}."
        )
    tokens, values = logprobs.get("tokens"), logprobs.get("token_logprobs")
    if (
        not isinstance(tokens, list)
        or not isinstance(values, list)
        or len(tokens) != len(values)
        or not all(isinstance(token, str) for token in tokens)
    ):
        raise _malformed(url, reply, "matching logprobs.tokens and logprobs.token_logprobs")
    if not echoed.startswith(full):
        raise _RequestFailed(
            f"POST {url} did not echo the prompt (the reply's text does not start with it)"
            f"{_NO_ECHO}."
        )
    return tokens, values, echoed[len(full) :]


def _option_end(tokens, generated, option, url):
    """Where ``option`` ends in the joined token texts.

    The tokens may begin with a BOS token's text and end with the generated
    token; aligning from the end copes with both.
    """
    joined = "".join(tokens)
    if generated and joined.endswith(option + generated):
        return len(joined) - len(generated)
    if joined.endswith(option) and not generated:
        return len(joined)
    if joined.endswith(option):
        raise _RequestFailed(
            f"POST {url}: the echoed log-probabilities leave out the generated token, the mark "
            "of llama-cpp-python's server pairing each token with the next one's "
            "log-probability (it does so when the prompt does not begin with the model's BOS "
            "token). Begin completion_template with the BOS token's text (e.g. '<|im_start|>' "
            "for SmolLM2), or use scoring='first_token'."
        )
    raise _RequestFailed(
        f"POST {url}: the echoed tokens do not end with the option {option!r} "
        f"(they end {joined[-60:]!r}), so its log-probability cannot be read."
    )


def _parse_top_logprobs(reply, url):
    """``[(token, logprob), ...]`` of the first generated token."""
    logprobs = _first_choice(reply, url).get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list) or not content or not isinstance(content[0], dict):
        raise _RequestFailed(
            f"POST {url} returned no choices[0].logprobs.content with logprobs=True; this "
            f"server gives no log-probabilities at all: {_excerpt(json.dumps(reply))}."
        )
    top = content[0].get("top_logprobs")
    if not isinstance(top, list) or not top:
        top = [content[0]]
    pairs = []
    for entry in top:
        token = entry.get("token") if isinstance(entry, dict) else None
        value = entry.get("logprob") if isinstance(entry, dict) else None
        if not isinstance(token, str) or not isinstance(value, (int, float)):
            raise _malformed(url, reply, "token and logprob in logprobs.content[0].top_logprobs")
        pairs.append((token, float(value)))
    return pairs


def _first_token_scores(pairs, options):
    """Log of the total probability of the listed first tokens each option begins with.

    Tokens match ignoring case and leading white space: a chat model answering
    "Yes" counts for the option "yes".
    """
    scores = []
    for option in options:
        folded = option.casefold()
        matching = [
            value
            for token, value in pairs
            if token.strip() and folded.startswith(token.lstrip().casefold())
        ]
        scores.append(float(np.logaddexp.reduce(matching)) if matching else -math.inf)
    return scores


def _answer(operation, scoring, options, replies):
    if scoring == "echo":
        sums = np.array([total for total, _ in replies], dtype=np.float64)
        means = np.array([total / count for total, count in replies], dtype=np.float64)
    else:
        sums = means = np.asarray(replies[0], dtype=np.float64)
    if operation == "score_options":
        return sums
    best = means.max()
    if not np.isfinite(best):
        raise _RequestFailed(
            "none of the options begins with one of the server's top_logprobs most likely "
            "first tokens, so no option can be chosen; give options that differ in their "
            "first word, word the prompt so that the answer starts with an option, or use "
            "scoring='echo'"
        )
    return min(option for option, mean in zip(options, means, strict=True) if mean == best)


def _parse_embeddings(reply, url, n_texts):
    data = reply.get("data")
    if not isinstance(data, list) or len(data) != n_texts:
        raise _malformed(url, reply, f"list of {n_texts} embeddings in data")
    try:
        ordered = sorted(data, key=lambda entry: entry.get("index", 0))
    except (AttributeError, TypeError):
        raise _malformed(url, reply, "embedding objects in data") from None
    vectors = []
    for entry in ordered:
        vector = entry.get("embedding")
        if (
            not isinstance(vector, list)
            or not vector
            or not all(
                isinstance(value, (int, float)) and not isinstance(value, bool) for value in vector
            )
        ):
            raise _RequestFailed(
                f"POST {url} returned an embedding that is not a flat list of numbers (a "
                "server that returns one vector per token, such as llama-cpp-python's for a "
                "model without pooling, needs a pooling setting): "
                f"{_excerpt(json.dumps(reply))}."
            )
        vectors.append(np.asarray(vector, dtype=np.float32))
    if len({vector.shape[0] for vector in vectors}) != 1:
        raise _malformed(url, reply, "embeddings of one size")
    return vectors
