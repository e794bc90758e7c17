"""Default prompt templates of the interaction enhancers (:meth:`str.format`, named fields).

No template lists the candidates: every candidate is scored on its own, so the
answer cannot depend on the order in which a retriever proposed them.

Fields of :data:`DEFAULT_SELECT_TEMPLATE` (scored by the likelihood of a candidate's
title as the answer): ``history`` (the user's recent titles, oldest first),
``n_items`` and ``user_id``. :data:`DEFAULT_JUDGE_TEMPLATE` and
:data:`DEFAULT_DENOISE_TEMPLATE` (scored by the probability of "yes") also have
``item``, the title of the candidate or of the interaction being judged.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_DENOISE_TEMPLATE",
    "DEFAULT_JUDGE_TEMPLATE",
    "DEFAULT_SELECT_TEMPLATE",
    "ITEM_FIELDS",
    "NO_ANSWERS",
    "SELECT_FIELDS",
    "YES_ANSWERS",
]

DEFAULT_SELECT_TEMPLATE = (
    "A user has interacted with the following items, oldest first:\n{history}\n\n"
    "Name one more item this user would like to interact with next. "
    "Answer with its title only."
)
"""Positive choice (LLMRec), ``scoring="likelihood"`` or ``"pmi"``: the candidate's
title is scored as the answer to this prompt."""

DEFAULT_JUDGE_TEMPLATE = (
    "A user has interacted with the following items, oldest first:\n{history}\n\n"
    "Would this user enjoy \"{item}\"? Answer yes or no."
)
"""Positive choice, ``scoring="yes"``: one prompt per candidate, P(yes) against P(no)."""

DEFAULT_DENOISE_TEMPLATE = (
    "A user has interacted with the following items, oldest first:\n{history}\n\n"
    "Does the item \"{item}\" fit this user's interests? Answer yes or no."
)
"""Plausibility of one interaction (LLMHD-style denoising): P(yes) against P(no)."""

YES_ANSWERS = ("Yes", "yes", " Yes", " yes")
"""Answers pooled (log-sum-exp) into P(yes): chat replies start capitalised, raw
completions after "Answer:" with a space."""
NO_ANSWERS = ("No", "no", " No", " no")
"""Answers pooled into P(no)."""

SELECT_FIELDS = ("history", "n_items", "user_id")
ITEM_FIELDS = ("history", "item", "n_items", "user_id")
