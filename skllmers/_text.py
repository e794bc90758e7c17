"""The text layer every enhancer shares: item and user texts, histories, encoders, LLM calls.

One module, so that every transformer builds a history, joins titles, embeds text and
checks what an encoder or an LLM answered the same way:

- **texts**: :func:`item_texts`, :func:`item_titles`, :func:`user_texts` (a profile
  written elsewhere, read from the users table);
- **histories**: :func:`recent_histories` (a user's ``max_history`` most recent real
  items, by time, presented oldest first) and :func:`format_history` (titles or texts
  joined by ``" | "``), combined by :func:`history_texts`;
- **vectors**: :func:`embed_texts` (each distinct non-empty text once; empty text is a
  zero row; NaN or infinite vectors are an error naming the ids), :func:`unit_rows`,
  :func:`align_rows`, :func:`check_unseen`;
- **LLM calls**: :func:`llm_generate`, :func:`llm_call_many`, :func:`llm_choose`,
  :func:`llm_score`, :func:`llm_counters`, :func:`counter_delta` and :class:`StageTimer`;
- **templates**: :func:`check_template`, :func:`fill_template`;
- **checks**: :func:`check_llm`, :func:`check_encoder` (and, for code not yet on
  ``_parameter_constraints``, :func:`check_int`, :func:`check_fraction`,
  :func:`check_option`).

Everything works on codes: row ``c`` of a returned array belongs to code ``c`` of the
data's id map. Only real rows describe a user: rows an enhancer added (flagged as
augmented) never reach a prompt, a profile or a history.
"""

from __future__ import annotations

import string
import time

import numpy as np
import pandas as pd

__all__ = [
    "HISTORY_SEP",
    "UNSEEN_POLICIES",
    "StageTimer",
    "align_rows",
    "check_encoder",
    "check_fraction",
    "check_int",
    "check_llm",
    "check_option",
    "check_template",
    "check_unseen",
    "checked_vectors",
    "counter_delta",
    "embed_texts",
    "fill_template",
    "format_history",
    "history_texts",
    "item_texts",
    "item_titles",
    "llm_call_many",
    "llm_choose",
    "llm_counters",
    "llm_generate",
    "llm_score",
    "recent_histories",
    "template_fields",
    "unit_rows",
    "user_texts",
]

HISTORY_SEP = " | "
"""Separator between the items of a history, in every prompt and history text."""

UNSEEN_POLICIES = ("encode", "zeros", "error")
"""Values of ``unseen_items`` / ``unseen_users`` on every transformer."""

_N_NAMED = 5  # ids named in an error message


# ---------------------------------------------------------------------- checks
def check_llm(llm, methods, name: str = "llm"):
    """Return ``llm`` if it has every method in ``methods``, else raise a TypeError.

    Any object with the methods works (duck typing): ``skllmers.llm.LlamaCppLLM``, the
    scripted test double, or your own client.

    Examples
    --------
    >>> from skllmers.llm.testing import ScriptedLLM
    >>> type(check_llm(ScriptedLLM(), ["generate"])).__name__
    'ScriptedLLM'
    """
    missing = [m for m in methods if not callable(getattr(llm, m, None))]
    if missing:
        hint = ""
        if "generate" in missing and callable(getattr(llm, "embed", None)):
            hint = (f" {type(llm).__name__} has embed(): an encoder goes in as "
                    "encoder=..., not as the first (llm) argument.")
        raise TypeError(
            f"{name} must provide {', '.join(f'{m}()' for m in methods)} (e.g. "
            f"skllmers.llm.LlamaCppLLM); {type(llm).__name__} lacks "
            f"{', '.join(missing)}.{hint}"
        )
    return llm


def check_encoder(encoder, name: str = "encoder"):
    """``encoder``, or a new :class:`~skllmers.llm.SentenceEncoder` when ``None``.

    Anything with an ``embed(texts) -> array (n, d)`` method is accepted (a sentence
    encoder, or an LLM backend, whose own embedding space is then used), and so is a
    :class:`~skllmers.llm.PrecomputedVectors` (vectors looked up by id).

    Examples
    --------
    >>> from skllmers.llm.testing import HashingEncoder
    >>> type(check_encoder(HashingEncoder(8))).__name__
    'HashingEncoder'
    """
    from .llm._precomputed import PrecomputedVectors

    if encoder is None:
        from .llm import SentenceEncoder

        return SentenceEncoder()
    if isinstance(encoder, PrecomputedVectors):
        return encoder
    return check_llm(encoder, ["embed"], name)


def check_fraction(value, name: str, *, low_open: bool = True) -> float:
    """``value`` as a float in (0, 1] (or [0, 1) with ``low_open=False``).

    Examples
    --------
    >>> check_fraction(0.5, "share")
    0.5
    """
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if ok and low_open:
        ok = 0 < value <= 1
    elif ok:
        ok = 0 <= value < 1
    if not ok:
        bounds = "(0, 1]" if low_open else "[0, 1)"
        raise ValueError(f"{name} must be a number in {bounds}, got {value!r}.")
    return float(value)


def check_int(value, name: str, *, minimum: int = 1, allow_none: bool = False):
    """``value`` as an int >= ``minimum`` (or ``None`` when allowed).

    Examples
    --------
    >>> check_int(3, "max_history")
    3
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_option(value, options, name: str):
    """``value`` if it is one of ``options``, else a ValueError naming them.

    Examples
    --------
    >>> check_option("items", ("items", "users"), "target")
    'items'
    """
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name}={value!r}; use one of {tuple(options)}.")
    return value


# ---------------------------------------------------------------------- texts
def item_texts(X, columns=None) -> np.ndarray:
    """One text per item code of ``X`` (empty where an item has no text).

    ``columns`` are joined by ``InteractionData.item_text`` (``None``: every string
    column of the items table).

    Returns
    -------
    ndarray of str, shape (X.n_items,)

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> data = InteractionData.from_pandas(
    ...     pd.DataFrame({"user_id": [1], "item_id": ["a"]}),
    ...     items=pd.DataFrame({"title": ["Alien"], "genre": ["sci-fi"]}, index=["a"]))
    >>> item_texts(data).tolist()
    ['Alien. sci-fi']
    """
    if X.items is None:
        raise ValueError(
            "This step reads item text, but the InteractionData has no items table; "
            "build it with InteractionData.from_pandas(df, items=items_table)."
        )
    return X.item_text(columns).to_numpy(dtype=object).astype(str)


def user_texts(X, columns) -> np.ndarray:
    """One ready-made text per user code, joined from ``columns`` of the users table.

    This is how a profile written elsewhere (by an LLM run offline, or by hand) comes
    in: the columns' non-missing values are joined by ``". "``, as item text columns
    are. Users with no text (missing values, or no row in the users table) get ``""``.

    Parameters
    ----------
    X : InteractionData
        Must carry a users table with every column of ``columns``.
    columns : str or list of str
        Columns of the users table that hold the text.

    Returns
    -------
    ndarray of str, shape (X.n_users,)

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> users = pd.DataFrame({"profile": ["Loves space operas.", None]}, index=[1, 2])
    >>> data = InteractionData.from_pandas(
    ...     pd.DataFrame({"user_id": [1, 2], "item_id": ["a", "b"]}), users=users)
    >>> user_texts(data, "profile").tolist()
    ['Loves space operas.', '']
    """
    columns = [columns] if isinstance(columns, str) else list(columns)
    table = X.users
    if table is None:
        raise ValueError(
            f"user_text_columns={columns} reads the users table, but this InteractionData "
            "has none; build it with InteractionData.from_pandas(df, users=users_table)."
        )
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise KeyError(f"user_text_columns {missing} are not columns of the users table "
                       f"{list(table.columns)}.")
    parts = table[columns].astype("string")
    text = parts.apply(lambda row: ". ".join(v.strip() for v in row
                                            if isinstance(v, str) and v.strip()), axis=1)
    text = text.reindex(X.user_ids) if not text.index.equals(X.user_ids) else text
    return text.fillna("").to_numpy(dtype=object).astype(str)


def item_titles(X, title_col=None) -> np.ndarray:
    """Short display name of each item code, as prompts show it.

    ``title_col`` names a column of the items table. ``None`` uses ``"title"`` when the
    table has it and the item id otherwise; a missing title falls back to the id too.
    Whitespace (newlines included) is collapsed so a title stays on one line.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> data = InteractionData.from_pandas(
    ...     pd.DataFrame({"user_id": [1, 1], "item_id": ["a", "b"]}),
    ...     items=pd.DataFrame({"title": ["Alien\\n(1979)", None]}, index=["a", "b"]))
    >>> item_titles(data).tolist()
    ['Alien (1979)', 'b']
    """
    ids = X.item_ids.astype(str).to_numpy(dtype=object)
    table = X.items
    if title_col is None:
        if table is None or "title" not in table.columns:
            return ids.astype(str)
        title_col = "title"
    elif table is None or title_col not in table.columns:
        columns = [] if table is None else list(table.columns)
        raise KeyError(f"title_col={title_col!r} is not a column of the items table {columns}.")
    titles = table[title_col].astype("string").str.split().str.join(" ")
    titles = titles.fillna("").to_numpy(dtype=object)
    return np.where(titles == "", ids, titles).astype(str)


# ---------------------------------------------------------------------- histories
def recent_histories(X, max_history: int, random_state=None) -> list[np.ndarray]:
    """Each user's ``max_history`` most recent real items, oldest first.

    Rows flagged as augmented are left out. Ties in time are broken as in
    :meth:`~skllmers.InteractionData.user_sequences` (seeded by ``random_state``).

    Returns
    -------
    list of ndarray, one per user code (empty for users with no real row)

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> data = InteractionData.from_pandas(pd.DataFrame(
    ...     {"user_id": [1, 1, 1], "item_id": ["a", "b", "c"], "t": [3, 1, 2]}), time_col="t")
    >>> [data.item_ids[h].tolist() for h in recent_histories(data, 2)]
    [['c', 'a']]
    """
    real = X.take(~X.augmented_mask()) if X.augmented is not None else X
    indptr, sequence = real.user_sequences(random_state=random_state)
    return [sequence[max(start, stop - max_history):stop]
            for start, stop in zip(indptr[:-1], indptr[1:], strict=True)]


def format_history(names) -> str:
    """A history as prompts and history texts show it: names joined by ``" | "``.

    ``names`` come oldest first (as :func:`recent_histories` gives them); empty names
    are skipped.

    Examples
    --------
    >>> format_history(["Heat", "", "Alien"])
    'Heat | Alien'
    """
    return HISTORY_SEP.join(str(n) for n in names if str(n))


def history_texts(histories, names: np.ndarray) -> np.ndarray:
    """:func:`format_history` of each history, naming item code ``c`` by ``names[c]``.

    Parameters
    ----------
    histories : list of ndarray
        Item codes per user, oldest first (:func:`recent_histories`).
    names : ndarray of str, shape (n_items,)
        Titles (in prompts) or full item texts (for an encoder).

    Returns
    -------
    ndarray of str, shape (len(histories),)
        Empty for users with no history.

    Examples
    --------
    >>> import numpy as np
    >>> history_texts([np.array([1, 0]), np.array([], int)], np.array(["Heat", "Alien"]))
    array(['Alien | Heat', ''], dtype='<U12')
    """
    return np.asarray([format_history(names[h]) for h in histories], dtype=object).astype(str)


# ---------------------------------------------------------------------- templates
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


def _is_missing(value) -> bool:
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


# ---------------------------------------------------------------------- vectors
def embed_texts(encoder, texts, *, ids=None, what: str = "texts", width=None) -> np.ndarray:
    """Embed each distinct non-empty text once; empty texts get a zero row.

    Parameters
    ----------
    encoder : object with ``embed(texts)``
    texts : array-like of str
    ids : array-like, optional
        The id of each text, named in error messages.
    what : str, default="texts"
        What the texts are, for error messages.
    width : int, optional
        Width to return when every text is empty. ``None``: every text being empty is
        an error (there is nothing to embed, and the width is unknown).

    Returns
    -------
    ndarray of shape (len(texts), d), float32

    Raises
    ------
    ValueError
        When the encoder returns the wrong shape, or a NaN or infinite vector (as a
        backend with ``on_error="skip"`` records a failed call): the ids of the texts
        concerned are named. A failed text is never silently zero-filled.

    Examples
    --------
    >>> from skllmers.llm.testing import HashingEncoder
    >>> embed_texts(HashingEncoder(4), ["a b", "", "a b"]).shape
    (3, 4)
    """
    texts = np.asarray(texts, dtype=object).astype(str)
    has_text = texts != ""
    if not has_text.any():
        if width is not None:
            return np.zeros((len(texts), width), np.float32)
        raise ValueError(
            f"All {len(texts)} {what} are empty: there is nothing to embed. Check the "
            "text columns (text_columns=..., user_text_columns=...) and, with an LLM, its "
            "answers."
        )
    unique, first, inverse = np.unique(texts[has_text], return_index=True,
                                       return_inverse=True)
    unique_ids = None if ids is None else np.asarray(ids, dtype=object)[has_text][first]
    vectors = checked_vectors(encoder.embed(unique.tolist()), len(unique), encoder,
                              ids=unique_ids, what=what)
    result = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    result[has_text] = vectors[inverse.ravel()]
    return result


def checked_vectors(vectors, n_texts: int, encoder, *, ids=None, what="texts") -> np.ndarray:
    """``vectors`` as float32 (n_texts, d), or a ValueError naming the encoder and ids.

    Examples
    --------
    >>> import numpy as np
    >>> checked_vectors(np.ones((2, 3)), 2, "encoder").dtype
    dtype('float32')
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    name = type(encoder).__name__
    if vectors.ndim != 2 or vectors.shape[0] != n_texts:
        raise ValueError(
            f"{name}.embed returned shape {vectors.shape} for {n_texts} {what}; it must "
            "return one row per text."
        )
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        where = np.flatnonzero(bad)
        named = (where if ids is None else np.asarray(ids, dtype=object)[where])[:_N_NAMED]
        label = "positions" if ids is None else "ids"
        raise ValueError(
            f"{name}.embed returned NaN or infinite vectors for {len(where)} of {n_texts} "
            f"{what} ({label} {list(named)}{', ...' if len(where) > _N_NAMED else ''}). "
            "A backend with on_error='skip' records a failed call so; rerun with "
            "on_error='raise' to see why it failed, or fix those texts."
        )
    return vectors


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero).

    Examples
    --------
    >>> import numpy as np
    >>> unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6, 0.8], [0.0, 0.0]]
    """
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def align_rows(fitted_ids: pd.Index, ids: pd.Index, rows: np.ndarray):
    """``rows`` (one per ``fitted_ids`` entry) re-indexed to ``ids`` by value.

    Returns
    -------
    aligned : ndarray of shape (len(ids), d)
        Zero where an id was not in ``fitted_ids``.
    known : ndarray of bool, shape (len(ids),)

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> aligned, known = align_rows(pd.Index(["a", "b"]), pd.Index(["b", "z"]),
    ...                             np.array([[1.0], [2.0]]))
    >>> aligned.tolist(), known.tolist()
    ([[2.0], [0.0]], [True, False])
    """
    if ids is fitted_ids or ids.equals(fitted_ids):
        return rows.copy(), np.ones(len(ids), bool)
    positions = fitted_ids.get_indexer(ids)
    known = positions >= 0
    aligned = np.zeros((len(ids), rows.shape[1]), dtype=rows.dtype)
    aligned[known] = rows[positions[known]]
    return aligned, known


def check_unseen(known: np.ndarray, ids: pd.Index, policy: str, kind: str) -> None:
    """Raise when ``policy`` is ``"error"`` and some ``ids`` are not ``known``.

    ``kind`` is ``"items"`` or ``"users"`` (it names the parameter in the message).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> check_unseen(np.array([True, False]), pd.Index(["a", "z"]), "zeros", "items")
    """
    if policy != "error" or known.all():
        return
    unseen = list(ids[~known][:_N_NAMED])
    more = ", ..." if (~known).sum() > _N_NAMED else ""
    raise ValueError(
        f"{int((~known).sum())} {kind} were not seen at fit ({unseen}{more}) and "
        f"unseen_{kind}='error'. Refit on data that has them, or pass "
        f"unseen_{kind}='encode' or 'zeros'."
    )


# ---------------------------------------------------------------------- LLM calls
def llm_generate(llm, prompts) -> list:
    """Answers of ``llm.generate`` to ``prompts``, each distinct prompt sent once.

    An answer is a str, or ``None`` where the backend recorded a failed call
    (``on_error="skip"``); callers count and report those.

    Examples
    --------
    >>> from skllmers.llm.testing import ScriptedLLM
    >>> llm_generate(ScriptedLLM(responder=str.upper), ["a", "b", "a"])
    ['A', 'B', 'A']
    """
    prompts = list(prompts)
    unique = list(dict.fromkeys(prompts))
    if not unique:
        return []
    answers = list(llm.generate(unique))
    if len(answers) != len(unique) or not all(a is None or isinstance(a, str) for a in answers):
        raise ValueError(
            f"{type(llm).__name__}.generate must return one str per prompt; got "
            f"{len(answers)} answers for {len(unique)} prompts."
        )
    lookup = dict(zip(unique, answers, strict=True))
    return [lookup[p] for p in prompts]


def llm_choose(llm, prompts, options, *, verbose=False, desc="LLM choices") -> np.ndarray:
    """Position of the option the LLM picks for each prompt (-1 where the call failed).

    ``options[i]`` holds prompt ``i``'s distinct option strings. Uses the backend's
    batched ``choose_many`` when it has one (cached, parallel), else ``choose`` in a
    loop. An answer that is not one of the options is an error, never guessed at.

    Examples
    --------
    >>> from skllmers.llm.testing import ScriptedLLM
    >>> llm_choose(ScriptedLLM(), ["pick"], [["x", "y"]]).shape
    (1,)
    """
    prompts, options = list(prompts), [list(o) for o in options]
    if not prompts:
        return np.zeros(0, np.int64)
    answers = llm_call_many(llm, "choose", prompts, options, verbose=verbose, desc=desc)
    chosen = np.full(len(prompts), -1, np.int64)
    for i, (answer, opts) in enumerate(zip(answers, options, strict=True)):
        if answer is None:
            continue
        try:
            chosen[i] = opts.index(answer)
        except ValueError:
            raise ValueError(
                f"{type(llm).__name__}.choose answered {answer!r}, which is not one of the "
                f"{len(opts)} options it was given; choose() must return an option verbatim."
            ) from None
    return chosen


def llm_call_many(llm, method, prompts, options, *, verbose=False, desc=None) -> list:
    """``llm.<method>_many(prompts, options)``, else ``llm.<method>`` prompt by prompt.

    ``method`` is ``"choose"`` or ``"score_options"``; ``options`` holds one list per
    prompt. A backend without the batched method is called once per prompt, with a
    progress bar under ``verbose``. Raises when the answers do not match the prompts.

    Examples
    --------
    >>> from skllmers.llm.testing import ScriptedLLM
    >>> llm_call_many(ScriptedLLM(), "choose", ["pick"], [["x", "y"]])
    ['x']
    """
    batched = getattr(llm, f"{method}_many", None)
    if callable(batched):
        answers = list(batched(prompts, options))
    else:
        from tqdm.auto import tqdm

        single = getattr(llm, method)
        pairs = list(zip(prompts, options, strict=True))
        answers = [single(p, o)
                   for p, o in tqdm(pairs, desc=desc, disable=not verbose, leave=False)]
    if len(answers) != len(prompts):
        raise ValueError(f"{type(llm).__name__}.{method}_many answered {len(answers)} of "
                         f"{len(prompts)} prompts; it must return one answer per prompt.")
    return answers


def llm_score(llm, prompts, options, *, verbose=False, desc="LLM scores") -> np.ndarray:
    """Log-probabilities ``llm.score_options`` gives each option, shape (n_prompts, n_options).

    Rows are NaN where the backend recorded a failed call.

    Examples
    --------
    >>> from skllmers.llm.testing import ScriptedLLM
    >>> llm_score(ScriptedLLM(), ["keep?"], ["yes", "no"]).shape
    (1, 2)
    """
    prompts, options = list(prompts), list(options)
    if not prompts:
        return np.zeros((0, len(options)))
    scores = llm_call_many(llm, "score_options", prompts, [options] * len(prompts),
                           verbose=verbose, desc=desc)
    scores = np.asarray([np.full(len(options), np.nan) if s is None else s for s in scores],
                        dtype=np.float64)
    if scores.shape != (len(prompts), len(options)):
        raise ValueError(f"{type(llm).__name__}.score_options must return one log-probability "
                         f"per option; got shape {scores.shape}.")
    return scores


def llm_counters(llm) -> dict:
    """``requests``, ``cache_hits`` and ``calls`` of a backend with ``stats()`` (else {}).

    Examples
    --------
    >>> llm_counters(object())
    {}
    """
    stats = getattr(llm, "stats", None)
    if not callable(stats):
        return {}
    values = stats()
    return {k: int(values[k]) for k in ("requests", "cache_hits", "calls") if k in values}


def counter_delta(before: dict, after: dict) -> dict:
    """What a backend's counters grew by during a fit.

    Examples
    --------
    >>> counter_delta({"calls": 2}, {"calls": 5, "requests": 1})
    {'calls': 3, 'requests': 1}
    """
    return {k: after[k] - before.get(k, 0) for k in after}


class StageTimer:
    """Wall time of an LLM stage; ``with timer: ...`` adds to ``timer.seconds``.

    Examples
    --------
    >>> timer = StageTimer()
    >>> with timer:
    ...     pass
    >>> timer.seconds >= 0
    True
    """

    def __init__(self):
        self.seconds = 0.0

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds += time.perf_counter() - self._start
        return False
