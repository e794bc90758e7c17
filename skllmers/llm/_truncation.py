"""What happens to a prompt that does not fit the model's context window."""

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
    """Return prompt tokens that fit in ``room`` tokens.

    It only reports whether the prompt was cut: the backend counts such
    prompts and warns once per call with the total.

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
    return tokens, True
