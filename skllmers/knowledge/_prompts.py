"""Default prompt templates of LLMSummaryFeaturizer.

Templates are plain :meth:`str.format` strings with named fields, checked and filled
by :func:`skllmers._text.check_template` and :func:`skllmers._text.fill_template`.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_ITEM_TEMPLATE",
    "DEFAULT_USER_TEMPLATE",
    "ITEM_FIELDS_DOC",
    "USER_FIELDS",
]

DEFAULT_ITEM_TEMPLATE = (
    "Here is an item from a catalogue:\n{text}\n\n"
    "In two or three sentences, give factual knowledge about this item: what it is, "
    "its genre or category, its main themes, and the kind of person who would enjoy it."
)
"""Item prompt (KAR's factual knowledge, ONCE's content rewriting): the item's side-table
text, then a request for facts."""

DEFAULT_USER_TEMPLATE = (
    "Given a user who has interacted with the following items, oldest first:\n"
    "{history}\n\n"
    "In two or three sentences, explain what this user is interested in: the genres, "
    "themes and styles they prefer."
)
"""User prompt (KAR's reasoning knowledge, ONCE's user profiles): the titles of the
user's recent items, oldest first and joined by ``" | "``, then a request for tastes."""

ITEM_FIELDS_DOC = "text, item_id, and every column of the items table"
USER_FIELDS = ("history", "n_items", "user_id")
