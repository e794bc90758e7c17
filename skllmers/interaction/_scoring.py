"""Order-free LLM scores: every candidate is scored on its own, never in a list.

A grammar-constrained choice among numbered candidates is decided by the answer's
first tokens, so a small model picks the same *position* whatever the candidates
are. Here each (prompt, answer) pair gets a log-probability from the backend's
``score_options`` and nothing else enters: the score of a candidate does not depend
on which other candidates there are or in which order they came. Prompts are sent
in sorted order, and the answers of one prompt sorted and in fixed-size groups, so
the backend makes the very same calls in the same order for any input order: even
llama.cpp's reuse of the previous call's prefix, which changes the last digits of a
log-probability, cannot flip a near tie.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from .._text import llm_call_many
from ._prompts import NO_ANSWERS, YES_ANSWERS

__all__ = ["answer_logprobs", "yes_log_odds"]

_OPTIONS_PER_CALL = 32  # answers scored in one call (one prompt evaluation in llama.cpp)


def answer_logprobs(llm, prompts, answers, *, verbose=False, desc="LLM scores"):
    """Log-probability of ``answers[i][j]`` as the reply to ``prompts[i]``.

    Identical prompts are merged, so each distinct (prompt, answer) pair is scored
    once. A call the backend recorded as failed (``on_error="skip"``) gives NaN.

    Parameters
    ----------
    llm : object with ``score_options`` (``score_options_many`` is used when present)
    prompts : list of str
    answers : list of list of str
        The answers to score for each prompt (repeats are allowed).
    verbose : bool, default=False
        Progress bar when the backend has no batched method.
    desc : str, default="LLM scores"
        Label of that progress bar.

    Returns
    -------
    scores : list of ndarray
        ``scores[i][j]`` is the summed token log-probability of ``answers[i][j]``.
    n_failed : int
        Calls whose scores came back NaN.

    Examples
    --------
    >>> from skllmers.llm.testing import ScriptedLLM
    >>> def by_length(prompt, options):  # stands in for an LLM: shorter is likelier
    ...     return [-float(len(option)) for option in options]
    >>> llm = ScriptedLLM(scorer=by_length)
    >>> scores, n_failed = answer_logprobs(llm, ["p", "q", "p"], [["ab", "a"], ["abc"], ["a"]])
    >>> [s.tolist() for s in scores], n_failed
    ([[-2.0, -1.0], [-3.0], [-1.0]], 0)
    """
    wanted: dict[str, set] = {}
    for prompt, options in zip(prompts, answers, strict=True):
        wanted.setdefault(prompt, set()).update(options)
    call_prompts, call_options = [], []
    for prompt in sorted(wanted):  # the same calls in the same order for any input order
        options = sorted(wanted[prompt])
        for start in range(0, len(options), _OPTIONS_PER_CALL):
            call_prompts.append(prompt)
            call_options.append(options[start:start + _OPTIONS_PER_CALL])
    results = _score_calls(llm, call_prompts, call_options, verbose, desc)
    lookup, n_failed = {}, 0
    for prompt, options, scores in zip(call_prompts, call_options, results, strict=True):
        n_failed += int(np.isnan(scores).all())
        lookup.update(((prompt, option), score) for option, score in zip(options, scores,
                                                                       strict=True))
    scores = [np.array([lookup[(prompt, option)] for option in options], dtype=np.float64)
              for prompt, options in zip(prompts, answers, strict=True)]
    return scores, n_failed


def yes_log_odds(llm, prompts, *, verbose=False, desc="LLM yes/no"):
    """``log P(yes) - log P(no)`` of each prompt's reply (NaN where the call failed).

    P(yes) pools the spellings in :data:`~skllmers.interaction._prompts.YES_ANSWERS`
    (log-sum-exp), P(no) those in ``NO_ANSWERS``, so the score fits a chat reply
    ("Yes") and a raw completion after "Answer:" (" yes") alike.

    Examples
    --------
    >>> import numpy as np
    >>> from skllmers.llm.testing import ScriptedLLM
    >>> def agrees(prompt, options):  # "Yes" when the prompt says "space"
    ...     yes = "space" in prompt
    ...     return [np.log(0.9 if o.strip().lower() == ("yes" if yes else "no") else 0.1)
    ...             for o in options]
    >>> odds, n_failed = yes_log_odds(ScriptedLLM(scorer=agrees), ["space?", "cooking?"])
    >>> (odds > 0).tolist(), n_failed
    ([True, False], 0)
    """
    answers = list(YES_ANSWERS + NO_ANSWERS)
    scores, n_failed = answer_logprobs(llm, prompts, [answers] * len(prompts),
                                       verbose=verbose, desc=desc)
    if not scores:
        return np.zeros(0), n_failed
    scores = np.stack(scores)
    n_yes = len(YES_ANSWERS)
    odds = logsumexp(scores[:, :n_yes], axis=1) - logsumexp(scores[:, n_yes:], axis=1)
    return odds, n_failed


def _score_calls(llm, prompts, options, verbose, desc):
    if not prompts:
        return []
    results = llm_call_many(llm, "score_options", prompts, options, verbose=verbose,
                            desc=desc)
    checked = []
    for result, opts in zip(results, options, strict=True):
        scores = (np.full(len(opts), np.nan) if result is None
                  else np.asarray(result, dtype=np.float64))
        if scores.shape != (len(opts),):
            raise ValueError(f"{type(llm).__name__}.score_options must return one "
                             f"log-probability per option; got shape {scores.shape} for "
                             f"{len(opts)} options.")
        checked.append(scores)
    return checked
