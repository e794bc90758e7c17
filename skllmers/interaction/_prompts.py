"""Default prompt templates of the interaction enhancers (:meth:`str.format`, named fields).

Fields of the choice templates: ``history`` (one ``- title`` line per recent item,
oldest first), ``candidates`` (one numbered line per candidate; the answer is one of
these lines, verbatim), ``n_items`` and ``user_id``. The denoising template has
``history``, ``item`` (the title of the interaction being judged), ``n_items`` and
``user_id``.
"""

from __future__ import annotations

__all__ = [
    "CHOICE_FIELDS",
    "DEFAULT_DENOISE_TEMPLATE",
    "DEFAULT_NEGATIVE_TEMPLATE",
    "DEFAULT_SELECT_TEMPLATE",
    "DENOISE_FIELDS",
    "DENOISE_OPTIONS",
]

DEFAULT_SELECT_TEMPLATE = (
    "A user has interacted with the following items, oldest first:\n{history}\n\n"
    "Candidate items:\n{candidates}\n\n"
    "Which candidate would this user most like to interact with next? "
    "Answer with one candidate line, exactly as written."
)
"""Positive choice (LLMRec, LlamaRec, LLM-InS): the item the user would like most."""

DEFAULT_NEGATIVE_TEMPLATE = (
    "A user has interacted with the following items, oldest first:\n{history}\n\n"
    "Candidate items:\n{candidates}\n\n"
    "Which candidate would this user like the least? "
    "Answer with one candidate line, exactly as written."
)
"""Negative choice (LLMRec's (user, positive, negative) triples)."""

DEFAULT_DENOISE_TEMPLATE = (
    "A user has interacted with the following items, oldest first:\n{history}\n\n"
    "Does the item \"{item}\" fit this user's interests? Answer yes or no.\nAnswer:"
)
"""Plausibility of one interaction (LLMHD): compared answers " yes" and " no"."""

DENOISE_OPTIONS = (" yes", " no")
CHOICE_FIELDS = ("history", "candidates", "n_items", "user_id")
DENOISE_FIELDS = ("history", "item", "n_items", "user_id")
