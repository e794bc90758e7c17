"""Encoders and LLMs for the model-enhancement tests, built on skllmers.llm.testing."""

from skllmers.llm.testing import HashingEncoder, ScriptedLLM

__all__ = ["CountingEncoder", "HashingEncoder", "RaisingEncoder", "RecordingEncoder",
           "recording_llm"]


class CountingEncoder(HashingEncoder):
    """A HashingEncoder that logs each text it computes (not those its cache answers).

    The log is shared by every clone, as GridSearchCV makes them.
    """

    computed: list = []

    def _compute(self, operation, payloads, report):
        CountingEncoder.computed.extend(payload["text"] for payload in payloads)
        return super()._compute(operation, payloads, report)


class RecordingEncoder(HashingEncoder):
    """A HashingEncoder (no cache) that keeps every text it was asked to embed."""

    def embed(self, texts):
        self.__dict__.setdefault("calls", []).append(list(texts))
        return super().embed(texts)

    @property
    def texts(self):
        return [t for call in self.__dict__.get("calls", []) for t in call]


class RaisingEncoder(HashingEncoder):
    """Stands in for an encoder that is gone after fit."""

    def embed(self, texts):
        raise RuntimeError("the encoder must not be called after fit")


def recording_llm():
    """A ScriptedLLM answering ``profile: <prompt length> chars``, and its list of prompts."""
    prompts = []

    def respond(prompt):
        prompts.append(prompt)
        return f"profile: {len(prompt)} chars"

    return ScriptedLLM(responder=respond), prompts
