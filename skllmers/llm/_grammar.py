"""GBNF grammars that force llama.cpp to answer with exactly one of a set of strings."""

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def gbnf_literal(text):
    """Quote ``text`` as a GBNF string literal.

    Backslashes, quotes and newlines are escaped; other control characters
    become ``\\xHH`` escapes; everything else (including non-ASCII) is kept.

    Examples
    --------
    >>> from skllmers.llm._grammar import gbnf_literal
    >>> print(gbnf_literal('say "hi"\\n'))
    "say \\"hi\\"\\n"
    """
    pieces = []
    for character in text:
        if character in _ESCAPES:
            pieces.append(_ESCAPES[character])
        elif ord(character) < 0x20 or ord(character) == 0x7F:
            pieces.append(f"\\x{ord(character):02X}")
        else:
            pieces.append(character)
    return '"' + "".join(pieces) + '"'


def choice_grammar(options):
    """GBNF grammar whose only sentences are the given options.

    Parameters
    ----------
    options : list of str
        Non-empty candidate answers.

    Returns
    -------
    grammar : str

    Examples
    --------
    >>> from skllmers.llm._grammar import choice_grammar
    >>> print(choice_grammar(["yes", "no"]))
    root ::= "yes" | "no"
    """
    if not options:
        raise ValueError("A choice grammar needs at least one option.")
    return "root ::= " + " | ".join(gbnf_literal(option) for option in options)
