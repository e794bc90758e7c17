"""Checks of user input shared by every backend, with messages that say how to fix it."""

from collections.abc import Sequence

ON_ERROR_CHOICES = ("raise", "skip")


def check_texts(texts, name="texts"):
    """Return ``texts`` as a list of strings.

    Empty strings are allowed. A single string is refused (it would silently
    be read as a sequence of characters), and so is any non-string item.
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError(
            f"{name} must be a list of strings, got a single {type(texts).__name__}; "
            f"wrap it in a list: [{name[:-1] if name.endswith('s') else name}]."
        )
    if hasattr(texts, "tolist") and not isinstance(texts, list):
        texts = texts.tolist()  # numpy arrays, pandas Series
    if not isinstance(texts, Sequence):
        try:
            texts = list(texts)
        except TypeError:
            raise TypeError(
                f"{name} must be a list of strings, got {type(texts).__name__}."
            ) from None
    texts = list(texts)
    for index, text in enumerate(texts):
        check_text(text, f"{name}[{index}]")
    return texts


def check_text(text, name="text"):
    """Raise a TypeError unless ``text`` is a ``str`` (the empty string is fine)."""
    if not isinstance(text, str):
        raise TypeError(
            f"{name} must be a str, got {type(text).__name__} ({text!r:.60}). "
            "Convert values to text first, e.g. str(value), and replace missing "
            "values (None, NaN) by ''."
        )
    return text


def check_options(options, name="options"):
    """Return the candidate answers as a non-empty list of distinct non-empty strings."""
    options = check_texts(options, name)
    if not options:
        raise ValueError(f"{name} is empty: give at least one candidate answer.")
    for index, option in enumerate(options):
        if option == "":
            raise ValueError(f"{name}[{index}] is the empty string; candidate answers need text.")
        if "\x00" in option:
            raise ValueError(
                f"{name}[{index}] contains a NUL character ('\\x00'), which grammars cannot "
                "express; remove it from the option text."
            )
    duplicated = len(set(options)) != len(options)
    if duplicated:
        seen, repeats = set(), []
        for option in options:
            if option in seen:
                repeats.append(option)
            seen.add(option)
        raise ValueError(f"{name} has repeated entries {repeats[:5]!r}; remove the duplicates.")
    return options


def check_options_list(prompts, options_list):
    """One list of options per prompt; a single flat list is shared by every prompt."""
    if options_list and all(isinstance(option, str) for option in options_list):
        shared = check_options(options_list)
        return [shared] * len(prompts)
    options_list = list(options_list)
    if len(options_list) != len(prompts):
        raise ValueError(
            f"Got {len(prompts)} prompts but {len(options_list)} option lists; give one "
            "list of options per prompt, or a single list of strings shared by all prompts."
        )
    return [check_options(options, f"options_list[{i}]") for i, options in enumerate(options_list)]


def check_on_error(on_error):
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}; got {on_error!r}.")
    return on_error


def check_non_negative_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {value!r}.")
    return value
