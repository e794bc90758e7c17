"""Fixtures of the interaction tests: the doubles of tests/knowledge are shared, plus
stand-ins that score candidates (``score_options``) the way the augmenter asks."""

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "knowledge"))

from _kie_doubles import (  # noqa: E402, F401
    isolated_cache_dir,
    signal,
    small_data,
    tiny_gguf,
    topic_oracle,
)

from skllmers import InteractionData  # noqa: E402
from skllmers.interaction._prompts import YES_ANSWERS  # noqa: E402
from skllmers.llm.testing import ScriptedLLM  # noqa: E402

_BULLET = re.compile(r"^- ")
_JUDGED = re.compile(r'(?:enjoy|item) "(.*?)"')


def _section(prompt, start, stop="\n\n"):
    """Non-empty lines of ``prompt`` between ``start`` and the next ``stop``."""
    if start not in prompt:
        return []
    text = prompt.split(start, 1)[1].split(stop, 1)[0]
    return [line.strip() for line in text.splitlines() if line.strip()]


def history_titles(prompt):
    """Titles of the history block of a default prompt, oldest first.

    Reads one title per line ("- " bullets) or one line joined by " | ".
    """
    lines = _section(prompt, "oldest first:\n")
    if len(lines) == 1 and " | " in lines[0]:
        lines = lines[0].split(" | ")
    return [_BULLET.sub("", line) for line in lines]


def judged_title(prompt):
    """The title a yes/no prompt asks about, or None."""
    match = _JUDGED.search(prompt)
    return None if match is None else match.group(1)


def is_yes_no(options):
    return set(options) & set(YES_ANSWERS) != set()


def yes_no_logprobs(options, p_yes):
    """Log-probabilities of yes/no spellings: P(yes) = p_yes, spread over the spellings."""
    yes = [o for o in options if o in YES_ANSWERS]
    no = [o for o in options if o not in YES_ANSWERS]
    return [np.log(p_yes / len(yes)) if o in YES_ANSWERS else np.log((1 - p_yes) / len(no))
            for o in options]


def preference_llm(preference, *, log=None, name="preference", on_error="raise",
                   max_retries=2, fail_if=None):
    """A ScriptedLLM that scores each answer on its own from ``preference(history, title)``.

    ``preference`` returns a log-probability-like number (<= 0) for a title given the
    history titles of the prompt (empty for PMI's empty-history prompt). Yes/no
    prompts get P(yes) = exp(preference). Every call is logged as
    ``(prompt, tuple(options))``.
    """

    def score(prompt, options):
        if fail_if is not None and fail_if(prompt):
            raise RuntimeError("model crashed")
        if log is not None:
            log.append((prompt, tuple(options)))
        history = history_titles(prompt)
        if is_yes_no(options):
            return yes_no_logprobs(options, float(np.exp(preference(history,
                                                                    judged_title(prompt)))))
        return [float(preference(history, option)) for option in options]

    return ScriptedLLM(scorer=score, name=name, on_error=on_error, max_retries=max_retries)


def scoring_oracle(data, truth, *, name="oracle", log=None, cache=None):
    """``topic_oracle``'s summaries, and scores from the hidden topics of each title."""
    titles = data.items["title"].astype(str).to_numpy()
    code_of = {title: code for code, title in enumerate(titles)}
    topics = truth.item_topics
    base = topic_oracle(data, truth, name=name, log=log, cache=cache)

    def affinity(history, title):
        known = [code_of[t] for t in history if t in code_of]
        if not known or title not in code_of:
            return -3.0
        profile = topics[known].mean(axis=0)
        return float(np.log(1e-3 + topics[code_of[title]] @ profile / max(profile.max(), 1e-9)))

    def score(prompt, options):
        if log is not None:
            log.append(("score_options", (prompt, tuple(options))))
        history = history_titles(prompt)
        if is_yes_no(options):
            return yes_no_logprobs(options, min(0.99, float(np.exp(affinity(
                history, judged_title(prompt))))))
        return [affinity(history, option) for option in options]

    return ScriptedLLM(base.responder, scorer=score, name=name, cache=cache)


@pytest.fixture
def catalogue():
    """Eight items (two share a title), five users with timestamps and ratings."""
    items = pd.DataFrame(
        {"title": ["Alien", "Heat", "Alien", "Brazil", "Fargo", "Ran", "Up", "Jaws"],
         "plot": ["space horror", "crime", "space remake", "satire", "crime", "war",
                  "balloon", "shark"]},
        index=pd.Index(list("abcdefgh"), name="item_id"),
    )
    rows = pd.DataFrame({
        "user_id": [1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5],
        "item_id": ["a", "b", "d", "a", "e", "b", "e", "f", "a", "d", "a"],
        "t": [1, 2, 3, 1, 2, 1, 2, 3, 1, 2, 1],
        "rating": [5.0, 3.0, 4.0, 2.0, 2.0, 5.0, 5.0, 5.0, 1.0, 3.0, 4.0],
    })
    return InteractionData.from_pandas(rows, items, time_col="t", rating_col="rating")
