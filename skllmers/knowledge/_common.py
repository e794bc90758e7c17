"""What the knowledge and interaction enhancers share: texts, histories, LLM and encoder calls.

Everything here works on codes: row ``c`` of a returned array belongs to code ``c`` of
the data's id map. Only real rows describe a user: rows an enhancer added (flagged as
augmented) never reach a prompt or a profile.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

__all__ = [
    "StageTimer",
    "align_rows",
    "check_encoder",
    "check_llm",
    "embed_texts",
    "item_texts",
    "item_titles",
    "llm_choose",
    "llm_counters",
    "llm_generate",
    "llm_score",
    "recent_histories",
]


# ---------------------------------------------------------------------- checks
def check_llm(llm, methods, name: str = "llm"):
    """Return ``llm`` if it has every method in ``methods``, else raise a TypeError.

    Any object with the methods works (duck typing): ``skllmers.llm.LlamaCppLLM``, the
    scripted test double, or your own client.
    """
    missing = [m for m in methods if not callable(getattr(llm, m, None))]
    if missing:
        raise TypeError(
            f"{name} must provide {', '.join(f'{m}()' for m in methods)} (e.g. "
            f"skllmers.llm.LlamaCppLLM); {type(llm).__name__} lacks {', '.join(missing)}."
        )
    return llm


def check_encoder(encoder, name: str = "encoder"):
    """``encoder``, or a new :class:`~skllmers.llm.SentenceEncoder` when ``None``.

    Anything with an ``embed(texts) -> array (n, d)`` method is accepted: a sentence
    encoder or an LLM backend (then the LLM's own embedding space is used).
    """
    if encoder is None:
        from ..llm import SentenceEncoder

        return SentenceEncoder()
    return check_llm(encoder, ["embed"], name)


def check_fraction(value, name: str, *, low_open: bool = True) -> float:
    """``value`` as a float in (0, 1] (or [0, 1) with ``low_open=False``)."""
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
    """``value`` as an int >= ``minimum`` (or ``None`` when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_option(value, options, name: str):
    """``value`` if it is one of ``options``, else a ValueError naming them."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name}={value!r}; use one of {tuple(options)}.")
    return value


# ---------------------------------------------------------------------- texts
def item_texts(X, columns=None) -> np.ndarray:
    """One text per item code of ``X`` (empty where an item has no text).

    Returns
    -------
    ndarray of str, shape (X.n_items,)
    """
    if X.items is None:
        raise ValueError(
            "This step reads item text, but the InteractionData has no items table; "
            "build it with InteractionData.from_pandas(df, items=items_table)."
        )
    return X.item_text(columns).to_numpy(dtype=object).astype(str)


def item_titles(X, title_col=None) -> np.ndarray:
    """Short display name of each item code, as prompts show it.

    ``title_col`` names a column of the items table. ``None`` uses ``"title"`` when the
    table has it and the item id otherwise; a missing title falls back to the id too.
    Whitespace (newlines included) is collapsed so a title stays on one line.
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


def recent_histories(X, max_history: int, random_state=None) -> list[np.ndarray]:
    """Each user's ``max_history`` most recent real items, oldest first.

    Rows flagged as augmented are left out. Ties in time are broken as in
    :meth:`~skllmers.InteractionData.user_sequences`.

    Returns
    -------
    list of ndarray, one per user code (empty for users with no real row)
    """
    real = X.take(~X.augmented_mask()) if X.augmented is not None else X
    indptr, sequence = real.user_sequences(random_state=random_state)
    return [sequence[max(start, stop - max_history):stop]
            for start, stop in zip(indptr[:-1], indptr[1:], strict=True)]


# ---------------------------------------------------------------------- vectors
def embed_texts(encoder, texts) -> np.ndarray:
    """Embed each distinct non-empty text once; empty texts get a zero row.

    Returns
    -------
    ndarray of shape (len(texts), d), float32 (``d`` is 0 when every text is empty
    and the width is unknown)
    """
    texts = np.asarray(texts, dtype=object).astype(str)
    has_text = texts != ""
    if not has_text.any():
        return np.zeros((len(texts), 0), np.float32)
    unique, inverse = np.unique(texts[has_text], return_inverse=True)
    vectors = checked_vectors(encoder.embed(unique.tolist()), len(unique), encoder)
    result = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    result[has_text] = vectors[inverse]
    return result


def checked_vectors(vectors, n_texts: int, encoder) -> np.ndarray:
    """``vectors`` as float32 (n_texts, d), or a ValueError naming the encoder."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != n_texts:
        raise ValueError(
            f"{type(encoder).__name__}.embed returned shape {vectors.shape} for {n_texts} "
            "texts; it must return one row per text."
        )
    if not np.isfinite(vectors).all():
        raise ValueError(f"{type(encoder).__name__}.embed returned NaN or infinite values.")
    return vectors


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def align_rows(fitted_ids: pd.Index, ids: pd.Index, rows: np.ndarray):
    """``rows`` (one per ``fitted_ids`` entry) re-indexed to ``ids`` by value.

    Returns
    -------
    aligned : ndarray of shape (len(ids), d)
        Zero where an id was not in ``fitted_ids``.
    known : ndarray of bool, shape (len(ids),)
    """
    if ids is fitted_ids or ids.equals(fitted_ids):
        return rows.copy(), np.ones(len(ids), bool)
    positions = fitted_ids.get_indexer(ids)
    known = positions >= 0
    aligned = np.zeros((len(ids), rows.shape[1]), dtype=rows.dtype)
    aligned[known] = rows[positions[known]]
    return aligned, known


# ---------------------------------------------------------------------- LLM calls
def llm_generate(llm, prompts) -> list:
    """Answers of ``llm.generate`` to ``prompts``, each distinct prompt sent once.

    An answer is a str, or ``None`` where the backend recorded a failed call
    (``on_error="skip"``); callers count and report those.
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
    """
    prompts, options = list(prompts), [list(o) for o in options]
    if not prompts:
        return np.zeros(0, np.int64)
    if callable(getattr(llm, "choose_many", None)):
        answers = list(llm.choose_many(prompts, options))
    else:
        from tqdm.auto import tqdm

        pairs = list(zip(prompts, options, strict=True))
        answers = [llm.choose(p, o)
                   for p, o in tqdm(pairs, desc=desc, disable=not verbose, leave=False)]
    if len(answers) != len(prompts):
        raise ValueError(f"{type(llm).__name__} answered {len(answers)} of {len(prompts)} "
                         "choice prompts.")
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


def llm_score(llm, prompts, options, *, verbose=False, desc="LLM scores") -> np.ndarray:
    """Log-probabilities ``llm.score_options`` gives each option, shape (n_prompts, n_options).

    Rows are NaN where the backend recorded a failed call.
    """
    prompts, options = list(prompts), list(options)
    if not prompts:
        return np.zeros((0, len(options)))
    if callable(getattr(llm, "score_options_many", None)):
        scores = list(llm.score_options_many(prompts, [options] * len(prompts)))
    else:
        from tqdm.auto import tqdm

        scores = [llm.score_options(p, options)
                  for p in tqdm(prompts, desc=desc, disable=not verbose, leave=False)]
    scores = np.asarray([np.full(len(options), np.nan) if s is None else s for s in scores],
                        dtype=np.float64)
    if scores.shape != (len(prompts), len(options)):
        raise ValueError(f"{type(llm).__name__}.score_options must return one log-probability "
                         f"per option; got shape {scores.shape}.")
    return scores


def llm_counters(llm) -> dict:
    """``requests``, ``cache_hits`` and ``calls`` of a backend with ``stats()`` (else {})."""
    stats = getattr(llm, "stats", None)
    if not callable(stats):
        return {}
    values = stats()
    return {k: int(values[k]) for k in ("requests", "cache_hits", "calls") if k in values}


def counter_delta(before: dict, after: dict) -> dict:
    """What a backend's counters grew by during a fit."""
    return {k: after[k] - before.get(k, 0) for k in after}


class StageTimer:
    """Wall time of an LLM stage; ``with timer: ...`` adds to ``timer.seconds``."""

    def __init__(self):
        self.seconds = 0.0

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds += time.perf_counter() - self._start
        return False
