"""Stand-ins shared by the knowledge and interaction tests (imported by both conftests).

``topic_oracle`` builds an LLM stand-in that knows each item's hidden topics (what a
knowledgeable LLM knows about real items): it summarises items and users by their
topic names and chooses the candidate closest to the user's topics. It reads the
titles that the default templates put in the prompts, so it only ever sees what a
real LLM would see. Its functions are closures (not bound methods) so that
``clone`` keeps sharing the same call log.
"""

import re

import numpy as np
import pandas as pd
import pytest

from skllmers import InteractionData
from skllmers.datasets import make_text_signal
from skllmers.llm import make_tiny_llama_gguf
from skllmers.llm.testing import ScriptedLLM
from skllmers.model_selection import LeaveLastOut, train_test_split_interactions

_NUMBERED = re.compile(r"^(- |\d+\. )")


class Raising:
    """An LLM (or encoder) that must not be called: every method raises."""

    def _fail(self, *args, **kwargs):
        raise AssertionError("the LLM was called after fit")

    generate = choose = choose_many = score_options = score_options_many = embed = _fail


def _section(prompt, start, stop="\n\n"):
    if start not in prompt:
        return []
    text = prompt.split(start, 1)[1].split(stop, 1)[0]
    return [line.strip() for line in text.splitlines() if line.strip()]


def topic_oracle(data, truth, *, name="oracle", log=None, cache=None):
    """A ScriptedLLM answering from the hidden topics of ``make_text_signal`` data.

    ``log`` (a list), when given, receives every ``(operation, prompt)`` that reaches
    the stand-in, i.e. every call the cache did not answer.
    """
    titles = data.items["title"].astype(str).to_numpy()
    code_of = {title: code for code, title in enumerate(titles)}
    code_of_text = {text: code for code, text in enumerate(data.items["description"])}
    topics = truth.item_topics
    names = list(truth.topic_names)

    def items_in(lines):  # one "- title" per line, or titles joined by " | "
        names = (_NUMBERED.sub("", part) for line in lines for part in line.split(" | "))
        return [code_of[t] for t in names if t in code_of]

    def describe(mixture):
        top = np.argsort(-mixture)[:2]
        return "About " + " and ".join(names[t] for t in top) + "."

    def respond(prompt):
        if log is not None:
            log.append(("generate", prompt))
        if "from a catalogue:\n" in prompt:
            text = prompt.split("catalogue:\n", 1)[1].split("\n", 1)[0]
            code = code_of_text.get(text, code_of.get(text.split(". ", 1)[0]))
            return "" if code is None else describe(topics[code])
        history = items_in(_section(prompt, "oldest first:\n"))
        return describe(topics[history].mean(axis=0))

    def choose(prompt, options):
        if log is not None:
            log.append(("choose", prompt))
        profile = topics[items_in(_section(prompt, "oldest first:\n"))].mean(axis=0)
        affinity = topics[items_in(options)] @ profile
        best = np.argmin(affinity) if "least" in prompt else np.argmax(affinity)
        return options[int(best)]

    return ScriptedLLM(respond, chooser=choose, name=name, cache=cache)


def recording_llm(log, *, name="recorder", cache=None):
    """A ScriptedLLM echoing prompts' last line, logging every prompt it computes."""

    def respond(prompt):
        log.append(("generate", prompt))
        return "summary: " + prompt.splitlines()[-1]

    def choose(prompt, options):
        log.append(("choose", prompt))
        return options[0]

    def score(prompt, options):
        log.append(("score_options", prompt))
        return np.log(np.full(len(options), 1.0 / len(options)))

    return ScriptedLLM(respond, chooser=choose, scorer=score, name=name, cache=cache)


# ---------------------------------------------------------------------- shared fixtures
@pytest.fixture(autouse=True)
def isolated_cache_dir(tmp_path, monkeypatch):
    """Keep the default LLM cache of every test in its own folder (never in ~/.cache)."""
    folder = tmp_path / "default-cache"
    monkeypatch.setenv("SKLLMERS_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def small_data():
    """Five items (two share a title, one has no text, one is cold), three users."""
    items = pd.DataFrame(
        {"title": ["Galaxy Rocket", "Whisk Dough", "Galaxy Rocket", None, "Coral Reef"],
         "genre": ["space", "cooking", "space opera", None, "ocean"]},
        index=pd.Index(["a", "b", "c", "d", "e"], name="item_id"),
    )
    rows = pd.DataFrame({
        "user_id": [1, 1, 1, 1, 2, 2, 3],
        "item_id": ["a", "b", "c", "d", "b", "a", "d"],
        "t": [1, 2, 3, 4, 1, 2, 1],
    })
    return InteractionData.from_pandas(rows, items, time_col="t")


@pytest.fixture(scope="session")
def signal():
    """make_text_signal data where text helps, a LeaveLastOut split and the hidden truth."""
    data, truth = make_text_signal(n_users=300, n_items=500, interactions_per_user=10,
                                   popularity_exponent=0.5, random_state=0,
                                   return_topics=True)
    train, test = train_test_split_interactions(data, LeaveLastOut(n=2, random_state=0))
    return data, truth, train, test


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory):
    """A tiny random llama model for llama.cpp smoke tests (useless answers, real calls)."""
    return make_tiny_llama_gguf(tmp_path_factory.mktemp("models") / "tiny.gguf")
