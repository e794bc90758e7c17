"""Re-exports of :mod:`skllmers._text` for the interaction package only.

The shared text helpers now live in :mod:`skllmers._text`; ``skllmers.knowledge`` and
``skllmers.model_enhancement`` import from there. ``skllmers/interaction/`` still
imports these names from here: once it is repointed to ``skllmers._text`` (a
mechanical change, the names are the same), the merger deletes this module.
"""

from .._text import (  # noqa: F401
    StageTimer,
    align_rows,
    check_encoder,
    check_fraction,
    check_int,
    check_llm,
    check_option,
    checked_vectors,
    counter_delta,
    embed_texts,
    item_texts,
    item_titles,
    llm_choose,
    llm_counters,
    llm_generate,
    llm_score,
    recent_histories,
    unit_rows,
)
