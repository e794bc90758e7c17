"""Every public class and function has a numpydoc ``Examples`` section, and the API
reference (``docs/api.rst``) lists every one of them.

"Public" means named in the ``__all__`` of ``skllmers`` or of one of its subpackages.
The examples themselves run as doctests (``--doctest-modules`` in setup.cfg).
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings
from pathlib import Path

import pytest
from numpydoc.docscrape import ClassDoc, FunctionDoc

PUBLIC_MODULES = [
    "skllmers",
    "skllmers.datasets",
    "skllmers.interaction",
    "skllmers.knowledge",
    "skllmers.llm",
    "skllmers.llm.testing",
    "skllmers.metrics",
    "skllmers.model_enhancement",
    "skllmers.model_selection",
    "skllmers.pipeline",
    "skllmers.recommenders",
]
API_RST = Path(__file__).resolve().parents[1] / "docs" / "api.rst"


def public_callables():
    """(module, name, object) of each public class and function, once per object."""
    seen = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and id(obj) not in seen:
                seen[id(obj)] = (module_name, name, obj)
    return sorted(seen.values(), key=lambda entry: (entry[0], entry[1]))


PUBLIC = public_callables()


@pytest.mark.parametrize("module_name, name, obj", PUBLIC,
                         ids=[f"{module}.{name}" for module, name, _ in PUBLIC])
def test_public_name_has_an_examples_section(module_name, name, obj):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpydoc warns about unknown sections
        doc = ClassDoc(obj) if inspect.isclass(obj) else FunctionDoc(obj)
    examples = "\n".join(doc["Examples"])
    assert ">>>" in examples, f"{module_name}.{name} needs an Examples section with code"


def documented_names():
    """``module.name`` of every entry of the autosummary tables of docs/api.rst."""
    names, module = set(), None
    for line in API_RST.read_text(encoding="utf-8").splitlines():
        current = re.match(r"^\.\. currentmodule:: (\S+)", line.strip())
        if current:
            module = current.group(1)
            continue
        entry = re.match(r"^ {3}(~?[A-Za-z_][\w.]*)$", line)
        if entry and module is not None and not line.strip().startswith(":"):
            names.add(f"{module}.{entry.group(1).lstrip('~')}")
    return names


def test_api_reference_lists_every_public_name():
    documented = documented_names()
    missing = []
    for module_name, name, obj in PUBLIC:
        # A name re-exported by several modules may be documented under any of them.
        homes = {f"{module}.{name}" for module in PUBLIC_MODULES
                 if name in getattr(importlib.import_module(module), "__all__", ())
                 and getattr(importlib.import_module(module), name) is obj}
        if not homes & documented:
            missing.append(f"{module_name}.{name}")
    assert not missing, f"add to docs/api.rst: {missing}"
