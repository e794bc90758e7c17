"""Exceptions and warnings of the LLM runtime."""


class LLMCallError(RuntimeError):
    """An LLM or encoder call kept failing after its retries (with ``on_error="raise"``).

    Examples
    --------
    >>> from skllmers.llm import LLMCallError
    >>> from skllmers.llm.testing import ScriptedLLM
    >>> def server_down(prompt):
    ...     raise ConnectionError("server down")
    >>> try:
    ...     ScriptedLLM(server_down, max_retries=1).generate(["hi"])
    ... except LLMCallError as error:
    ...     print(error.__cause__)
    server down
    """


class ModelLoadError(RuntimeError):
    """A model file exists but its runtime could not load it.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from skllmers.llm import LlamaCppLLM, ModelLoadError
    >>> broken = Path(tempfile.mkdtemp()) / "broken.gguf"
    >>> _ = broken.write_bytes(b"not a model")
    >>> try:
    ...     LlamaCppLLM(broken, cache=None).generate(["hi"])
    ... except ModelLoadError as error:
    ...     print("broken.gguf" in str(error))
    True
    """


class PromptTruncatedWarning(UserWarning):
    """A prompt or text was longer than the model accepts and was shortened.

    Examples
    --------
    >>> import tempfile
    >>> import warnings
    >>> from skllmers.llm import LlamaCppLLM, PromptTruncatedWarning, make_tiny_llama_gguf
    >>> path = make_tiny_llama_gguf(tempfile.mkdtemp() + "/tiny.gguf")
    >>> llm = LlamaCppLLM(path, n_ctx=64, max_tokens=4, cache=None, verbose=0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = llm.generate(["a very long user history " * 40])
    >>> caught[0].category is PromptTruncatedWarning
    True
    """
