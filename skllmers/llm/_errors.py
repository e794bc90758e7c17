"""Exceptions and warnings of the LLM runtime."""


class LLMCallError(RuntimeError):
    """An LLM or encoder call kept failing after its retries (with ``on_error="raise"``).

    Examples
    --------
    >>> from skllmers.llm import LLMCallError
    >>> issubclass(LLMCallError, RuntimeError)
    True
    """


class ModelLoadError(RuntimeError):
    """A model file exists but its runtime could not load it.

    Examples
    --------
    >>> from skllmers.llm import ModelLoadError
    >>> issubclass(ModelLoadError, RuntimeError)
    True
    """


class PromptTruncatedWarning(UserWarning):
    """A prompt or text was longer than the model accepts and was shortened.

    Examples
    --------
    >>> import warnings
    >>> from skllmers.llm import PromptTruncatedWarning
    >>> warnings.simplefilter("error", PromptTruncatedWarning)  # make it fatal
    >>> warnings.resetwarnings()
    """
