"""What happens to a prompt that does not fit the model's context window."""

import warnings

from ._errors import PromptTruncatedWarning

HEAD_FRACTION = 0.25


def truncate_middle_tokens(tokens, max_tokens, head_fraction=HEAD_FRACTION):
    """Keep the head and the tail of a token list, dropping the middle.

    The head (a quarter of the room by default) keeps the instruction that
    opens a prompt; the tail keeps the most recent part: with a user history
    listed oldest first, the newest items and the final question survive.

    Examples
    --------
    >>> from skllmers.llm._truncation import truncate_middle_tokens
    >>> truncate_middle_tokens(list(range(10)), 4)
    [0, 7, 8, 9]
    """
    tokens = list(tokens)
    if len(tokens) <= max_tokens:
        return tokens
    if max_tokens <= 0:
        return []
    n_head = int(max_tokens * head_fraction)
    n_tail = max_tokens - n_head
    return tokens[:n_head] + tokens[len(tokens) - n_tail :]


def fit_prompt_tokens(prompt, tokens, room, truncation, tokenize):
    """Return prompt tokens that fit in ``room`` tokens, warning when cut.

    Parameters
    ----------
    prompt : str
        The prompt text (passed to a custom truncation callable).
    tokens : list of int
        Its tokens.
    room : int
        Most tokens the prompt may take.
    truncation : "middle" or callable
        ``"middle"`` keeps the head and the most recent tail (see
        :func:`truncate_middle_tokens`). A callable gets
        ``(prompt, room, count_tokens)`` and returns a shorter prompt text;
        if that is still too long the middle policy is applied to it.
    tokenize : callable
        Text to token list, as the model sees it.

    Returns
    -------
    tokens : list of int
    was_truncated : bool
    """
    if len(tokens) <= room:
        return tokens, False
    original_length = len(tokens)
    if callable(truncation):
        shortened = truncation(prompt, room, lambda text: len(tokenize(text)))
        if not isinstance(shortened, str):
            raise TypeError(
                f"The truncation callable must return a str, got {type(shortened).__name__}."
            )
        tokens = tokenize(shortened)
    elif truncation != "middle":
        raise ValueError(f"truncation must be 'middle' or a callable; got {truncation!r}.")
    tokens = truncate_middle_tokens(tokens, room)
    warnings.warn(
        f"A prompt of {original_length} tokens does not fit the {room} tokens left in the "
        "context window; it was shortened to its first and most recent tokens "
        "(truncation='middle', or your truncation callable). Raise n_ctx, lower "
        "max_tokens, or shorten the prompt (e.g. fewer history items).",
        PromptTruncatedWarning,
        stacklevel=2,
    )
    return tokens, True
