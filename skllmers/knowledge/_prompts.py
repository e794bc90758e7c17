"""Default prompt templates of LLMSummaryFeaturizer.

Templates are plain :meth:`str.format` strings with named fields, checked and filled
by :func:`skllmers._text.check_template` and :func:`skllmers._text.fill_template`
(re-exported here, with :func:`format_history`'s old bullet form, for the interaction
package until it imports them from :mod:`skllmers._text`; the merger then removes the
re-exports and the bullet form).
"""

from __future__ import annotations

from .._text import check_template, fill_template, template_fields  # noqa: F401

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


def format_history(titles, bullet: str = "- ") -> str:
    """The interaction package's old history form, one ``- title`` line per item.

    Kept only until ``skllmers/interaction`` moves to :func:`skllmers._text.format_history`
    (titles joined by ``" | "``, the one form every transformer uses); then removed.

    Examples
    --------
    >>> print(format_history(["Heat", "Alien"]))
    - Heat
    - Alien
    """
    return "\n".join(f"{bullet}{title}" for title in titles)
