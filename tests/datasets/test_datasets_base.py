"""get_data_home / clear_data_home, and the public surface of skllmers.datasets."""

from __future__ import annotations

import doctest
import inspect
from pathlib import Path

import pytest

import skllmers.datasets
from skllmers.datasets import _base, _movielens, _text_signal, clear_data_home, get_data_home


def test_argument_beats_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SKLLMERS_DATA", str(tmp_path / "from-env"))
    home = get_data_home(tmp_path / "from-arg")
    assert home == (tmp_path / "from-arg").resolve() and home.is_dir()
    assert not (tmp_path / "from-env").exists()


def test_environment_beats_default(tmp_path, monkeypatch):
    monkeypatch.setenv("SKLLMERS_DATA", str(tmp_path / "from-env"))
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert get_data_home() == (tmp_path / "from-env").resolve()
    assert not (tmp_path / "user").exists()


def test_default_is_in_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SKLLMERS_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert get_data_home() == (tmp_path / "user" / "skllmers_data").resolve()
    assert (tmp_path / "user" / "skllmers_data").is_dir()


def test_tilde_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home("~/cache") == (tmp_path / "cache").resolve()
    assert isinstance(get_data_home(str(tmp_path / "as-str")), Path)


def test_clear_data_home(tmp_path):
    home = get_data_home(tmp_path / "cache")
    (home / "movielens").mkdir()
    (home / "movielens" / "ml-1m.zip").write_bytes(b"x")
    clear_data_home(home)
    assert not home.exists()
    assert tmp_path.exists()


def test_public_names():
    assert sorted(skllmers.datasets.__all__) == [
        "clear_data_home", "get_data_home", "load_movielens", "make_text_signal",
    ]
    for name in skllmers.datasets.__all__:
        function = getattr(skllmers.datasets, name)
        assert function.__module__.startswith("skllmers.datasets._")
        doc = inspect.getdoc(function)
        assert "Parameters\n----------" in doc, name
        assert "Examples\n--------" in doc and ">>> " in doc, name


@pytest.mark.parametrize("module", [_base, _movielens, _text_signal])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
