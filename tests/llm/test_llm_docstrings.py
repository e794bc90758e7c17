"""The examples in the docstrings of skllmers.llm run and give what they show."""

import doctest
import importlib

import pytest

MODULES = [
    "skllmers.llm._base",
    "skllmers.llm._bert_gguf",
    "skllmers.llm._cache",
    "skllmers.llm._encoder",
    "skllmers.llm._errors",
    "skllmers.llm._grammar",
    "skllmers.llm._llamacpp",
    "skllmers.llm._model_files",
    "skllmers.llm._tiny_model",
    "skllmers.llm._truncation",
    "skllmers.llm.testing",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    failures, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert failures == 0


def test_every_public_name_has_an_example():
    import skllmers.llm

    for name in skllmers.llm.__all__:
        value = getattr(skllmers.llm, name)
        if isinstance(value, str) or name == "testing":
            continue
        assert ">>>" in (value.__doc__ or ""), name
    for name in skllmers.llm.testing.__all__:
        assert ">>>" in getattr(skllmers.llm.testing, name).__doc__, name
