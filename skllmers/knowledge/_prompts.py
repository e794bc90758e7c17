"""Default prompt templates of the knowledge enhancers, and how templates are filled.

Templates are plain :meth:`str.format` strings with named fields. Each enhancer
documents the fields it offers; a template that names a field the enhancer cannot
fill is rejected in ``fit`` with the list of the fields it can use.
"""

from __future__ import annotations

import string

import pandas as pd

__all__ = [
    "DEFAULT_ITEM_TEMPLATE",
    "DEFAULT_USER_TEMPLATE",
    "ITEM_FIELDS_DOC",
    "USER_FIELDS",
    "check_template",
    "fill_template",
    "format_history",
]

DEFAULT_ITEM_TEMPLATE = (
    "Here is an item from a catalogue:\n{text}\n\n"
    "In two or three sentences, give factual knowledge about this item: what it is, "
    "its genre or category, its main themes, and the kind of person who would enjoy it."
)
"""Item prompt (ONCE, LAMAR, KAR): the item's side-table text, then a request for facts."""

DEFAULT_USER_TEMPLATE = (
    "Given a user who has interacted with the following items, oldest first:\n"
    "{history}\n\n"
    "In two or three sentences, explain what this user is interested in: the genres, "
    "themes and styles they prefer."
)
"""User prompt (KAR, LANE, LLM-BRec): the user's recent history, then a request for tastes."""

ITEM_FIELDS_DOC = "text, item_id, and every column of the items table"
USER_FIELDS = ("history", "n_items", "user_id")


def template_fields(template: str) -> set[str]:
    """Names of the fields a :meth:`str.format` template uses.

    Examples
    --------
    >>> sorted(template_fields("{history} ... {user_id}"))
    ['history', 'user_id']
    """
    fields = set()
    for _, name, _, _ in string.Formatter().parse(template):
        if name is None:
            continue
        if name == "" or name.isdigit():
            raise ValueError(
                f"Template {template!r} has a positional field '{{{name}}}'; name every "
                "field, e.g. '{history}'. Write a literal brace as '{{' or '}}'."
            )
        fields.add(name.split(".")[0].split("[")[0])
    return fields


def check_template(template, available, name: str) -> str:
    """Return ``template`` if it is a string whose fields are all in ``available``.

    Parameters
    ----------
    template : str
        The :meth:`str.format` template.
    available : iterable of str
        Fields the caller can fill.
    name : str
        Parameter name, for the error message.

    Examples
    --------
    >>> check_template("Likes {history}", ["history", "user_id"], "user_template")
    'Likes {history}'
    """
    if not isinstance(template, str) or not template.strip():
        raise TypeError(f"{name} must be a non-empty str.format template, got {template!r}.")
    try:
        unknown = template_fields(template) - set(available)
    except ValueError as error:  # unbalanced braces
        raise ValueError(f"{name} is not a valid str.format template: {error}") from error
    if unknown:
        raise ValueError(
            f"{name} uses field(s) {sorted(unknown)} that cannot be filled; the available "
            f"fields are {sorted(available)}."
        )
    return template


def fill_template(template: str, fields: dict) -> str:
    """``template.format(**fields)``, with missing values shown as empty strings.

    Examples
    --------
    >>> fill_template("{title} ({year})", {"title": "Heat", "year": None})
    'Heat ()'
    """
    return template.format(**{k: "" if _is_missing(v) else v for k, v in fields.items()})


def format_history(titles, bullet: str = "- ") -> str:
    """One line per title, oldest first, as the user templates show a history.

    Examples
    --------
    >>> print(format_history(["Heat", "Alien"]))
    - Heat
    - Alien
    """
    return "\n".join(f"{bullet}{title}" for title in titles)


def _is_missing(value) -> bool:
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))
