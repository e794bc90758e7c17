"""Persistent, content-addressed cache of LLM and encoder results.

One SQLite file holds every result. A key is the SHA-256 of the backend's
identity (class, model file fingerprint, output-changing parameters), the
operation and its input, so a changed model or parameter never reuses an old
answer. Each row carries a checksum of its value: a damaged row is detected,
deleted and recomputed by the caller.
"""

import contextlib
import hashlib
import io
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

CACHE_DIR_ENV = "SKLLMERS_CACHE_DIR"
CACHE_FILE_NAME = "llm_cache.sqlite3"
_SQLITE_MAX_PARAMS = 500
_BUSY_TIMEOUT_MS = 60_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    value BLOB NOT NULL,
    checksum TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def default_cache_dir():
    """Return the folder of the default cache.

    It is ``$SKLLMERS_CACHE_DIR`` when that variable is set, otherwise
    ``~/.cache/skllmers``.

    Returns
    -------
    path : pathlib.Path
        The folder (it may not exist yet).

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> from skllmers.llm import default_cache_dir
    >>> with mock.patch.dict(os.environ, {"SKLLMERS_CACHE_DIR": "/tmp/my-skllmers-cache"}):
    ...     print(default_cache_dir())
    /tmp/my-skllmers-cache
    """
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "skllmers"


def make_key(identity, operation, payload):
    """SHA-256 hex digest of a backend identity, an operation and its input.

    Parameters
    ----------
    identity : dict
        JSON-serialisable description of the backend (see ``identity()``).
    operation : str
        Name of the operation, e.g. ``"generate"``.
    payload : object
        JSON-serialisable input of the operation.

    Returns
    -------
    key : str
        64 hexadecimal characters.

    Examples
    --------
    >>> from skllmers.llm._cache import make_key
    >>> a = make_key({"class": "X"}, "generate", {"prompt": "hi"})
    >>> b = make_key({"class": "X"}, "generate", {"prompt": "hi!"})
    >>> len(a), a == b
    (64, False)
    """
    document = {"identity": identity, "operation": operation, "payload": payload}
    text = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def encode_value(value):
    """Serialise a result: numpy arrays as ``np.save`` bytes, the rest as JSON.

    Returns
    -------
    kind : {"npy", "json"}
    blob : bytes
    """
    if isinstance(value, np.ndarray):
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return "npy", buffer.getvalue()
    if isinstance(value, np.generic):
        value = value.item()
    return "json", json.dumps(value, ensure_ascii=False).encode("utf-8")


def decode_value(kind, blob):
    """Inverse of :func:`encode_value`."""
    if kind == "npy":
        return np.load(io.BytesIO(blob), allow_pickle=False)
    if kind == "json":
        return json.loads(blob.decode("utf-8"))
    raise ValueError(f"Unknown cache value kind {kind!r}.")


def _checksum(kind, blob):
    return hashlib.sha256(kind.encode("ascii") + b"\0" + bytes(blob)).hexdigest()


def _resolve_db_path(path):
    folder = default_cache_dir() if path is None else Path(path).expanduser()
    if folder.suffix in {".sqlite", ".sqlite3", ".db"}:
        return folder
    return folder / CACHE_FILE_NAME


class LLMCache:
    """Persistent cache of LLM and encoder results in one SQLite file.

    Safe for several processes at once (SQLite in WAL mode with a long busy
    timeout). Each result is committed as soon as it is stored, so an
    interrupted run resumes where it stopped. The connection is opened lazily
    in each process and is never pickled: the cache can be sent to joblib or
    dask workers and cloned with scikit-learn.

    A damaged entry (its checksum or its decoding fails) is deleted and
    reported as missing, so the backend computes it again. A cache that
    cannot be used at all raises at first use, naming the file and the fix:
    a folder or file that cannot be written raises ``PermissionError`` (a
    path that is a file, ``NotADirectoryError``), and a file that is not an
    SQLite database, is damaged or lacks the cache's table raises
    ``sqlite3.DatabaseError``. Such a file is never deleted for you: it may
    hold hours of model calls.

    Parameters
    ----------
    path : str or path-like, default=None
        Folder of the cache (created if missing); the file inside is
        ``llm_cache.sqlite3``. A path ending in ``.sqlite``, ``.sqlite3`` or
        ``.db`` names the file itself. ``None`` uses :func:`default_cache_dir`.

    Attributes
    ----------
    db_path : pathlib.Path
        The SQLite file.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from skllmers.llm import LLMCache
    >>> cache = LLMCache(tempfile.mkdtemp())
    >>> cache.set("k1", "an answer")
    >>> cache.set("k2", np.arange(3, dtype=np.float32))
    >>> cache.get("k1")
    'an answer'
    >>> cache.get_many(["k2", "missing"])
    {'k2': array([0., 1., 2.], dtype=float32)}
    >>> stats = cache.stats()
    >>> stats["hits"], stats["misses"], stats["entries"]
    (2, 1, 2)
    """

    def __init__(self, path=None):
        self.path = path
        self.db_path = _resolve_db_path(path)
        self._lock = threading.Lock()
        self._connection = None
        self._owner_pid = None
        self._counters = _new_counters()

    def __repr__(self):
        return f"LLMCache(path={str(self.db_path)!r})"

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_connection"] = None
        state["_owner_pid"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __deepcopy__(self, memo):
        clone = LLMCache.__new__(LLMCache)
        clone.__setstate__(self.__getstate__())
        clone._counters = dict(self._counters)
        return clone

    def __len__(self):
        with self._lock, _explained_errors(self.db_path):
            return self._connect().execute("SELECT COUNT(*) FROM entries").fetchone()[0]

    def _connect(self):
        if self._connection is not None and self._owner_pid == os.getpid():
            return self._connection
        _make_folder(self.db_path.parent)
        connection = sqlite3.connect(
            str(self.db_path),
            timeout=_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # autocommit: every stored result is durable at once
            check_same_thread=False,
        )
        try:
            _run_with_busy_retries(lambda: _prepare_connection(connection))
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        self._owner_pid = os.getpid()
        return connection

    def get(self, key, default=None):
        """Return the value stored under ``key``, or ``default`` if absent or corrupted."""
        return self.get_many([key]).get(key, default)

    def get_many(self, keys):
        """Look up several keys at once.

        Parameters
        ----------
        keys : iterable of str

        Returns
        -------
        found : dict
            Maps each key found intact to its value. Missing keys and entries
            whose checksum does not match (these are deleted) are left out.
        """
        unique_keys = list(dict.fromkeys(keys))
        rows = []
        with self._lock, _explained_errors(self.db_path):
            connection = self._connect()
            for start in range(0, len(unique_keys), _SQLITE_MAX_PARAMS):
                part = unique_keys[start : start + _SQLITE_MAX_PARAMS]
                marks = ",".join("?" * len(part))
                query = f"SELECT key, kind, value, checksum FROM entries WHERE key IN ({marks})"
                rows.extend(
                    _run_with_busy_retries(
                        lambda q=query, p=part: connection.execute(q, p).fetchall()
                    )
                )
        found = {}
        for key, kind, blob, checksum in rows:
            value = self._decode_checked(key, kind, blob, checksum)
            if value is not _CORRUPTED:
                found[key] = value
        self._counters["hits"] += len(found)
        self._counters["misses"] += len(unique_keys) - len(found)
        return found

    def _decode_checked(self, key, kind, blob, checksum):
        if _checksum(kind, blob) == checksum:
            try:
                value = decode_value(kind, bytes(blob))
            except ValueError:
                value = _CORRUPTED
            else:
                self._counters["bytes_read"] += len(blob)
                return value
        self._counters["corrupted"] += 1
        self.delete(key)
        return _CORRUPTED

    def set(self, key, value):
        """Store ``value`` (text, number, list, dict or numpy array) under ``key``."""
        self.set_many({key: value})

    def set_many(self, items):
        """Store several results in one transaction.

        Parameters
        ----------
        items : dict
            Maps keys to values.
        """
        rows = []
        for key, value in items.items():
            kind, blob = encode_value(value)
            rows.append((key, kind, blob, _checksum(kind, blob), time.time()))
        if not rows:
            return
        statement = "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)"
        with self._lock, _explained_errors(self.db_path):
            connection = self._connect()
            _run_with_busy_retries(lambda: _write_rows(connection, statement, rows))
        self._counters["writes"] += len(rows)
        self._counters["bytes_written"] += sum(len(row[2]) for row in rows)

    def delete(self, key):
        """Remove one entry if present."""
        with self._lock, _explained_errors(self.db_path):
            connection = self._connect()
            _run_with_busy_retries(
                lambda: connection.execute("DELETE FROM entries WHERE key = ?", (key,))
            )

    def clear(self):
        """Remove every entry."""
        with self._lock, _explained_errors(self.db_path):
            connection = self._connect()
            _run_with_busy_retries(lambda: connection.execute("DELETE FROM entries"))

    def stats(self):
        """Counters of this cache object (this process) and the size of the file.

        Returns
        -------
        stats : dict
            ``hits``, ``misses``, ``writes``, ``corrupted`` (entries whose checksum
            failed and were discarded), ``bytes_read``, ``bytes_written``,
            ``entries`` (rows in the file, all processes) and ``file_bytes``.
        """
        stats = dict(self._counters)
        stats["entries"] = len(self)
        stats["file_bytes"] = _file_bytes(self.db_path)
        return stats

    def reset_stats(self):
        """Set the hit, miss, write and byte counters back to zero."""
        self._counters = _new_counters()

    def close(self):
        """Close this process's connection (it reopens on next use)."""
        with self._lock:
            if self._connection is not None and self._owner_pid == os.getpid():
                self._connection.close()
            self._connection = None
            self._owner_pid = None


_CORRUPTED = object()


def _new_counters():
    return {
        "hits": 0,
        "misses": 0,
        "writes": 0,
        "corrupted": 0,
        "bytes_read": 0,
        "bytes_written": 0,
    }


def _prepare_connection(connection):
    connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute(_SCHEMA)


def _write_rows(connection, statement, rows):
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.executemany(statement, rows)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _run_with_busy_retries(operation, attempts=20):
    """Run an SQLite operation, retrying while another process holds the lock.

    The busy timeout covers most waits; switching to WAL mode and creating the
    schema can still report "locked" when many processes start together.
    """
    for attempt in range(attempts):
        try:
            return operation()
        except sqlite3.OperationalError as error:
            message = str(error).lower()
            if ("locked" not in message and "busy" not in message) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


_REMEDY = (
    "pass another cache folder (cache='path/to/folder', or set the "
    f"{CACHE_DIR_ENV} environment variable for the default one), or cache=None to run "
    "without a cache"
)


def _make_folder(folder):
    """Create the cache folder, or explain why it cannot be used."""
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(
            f"The LLM cache folder {str(folder)!r} is a file, not a folder. Pass a folder "
            f"(the cache file inside it is {CACHE_FILE_NAME!r}), or a path ending in "
            "'.sqlite3' to name the cache file itself."
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except PermissionError as error:
        raise PermissionError(
            f"Cannot create the LLM cache folder {str(folder)!r} ({error.strerror}). Make "
            f"its parent writable, or {_REMEDY}."
        ) from error


@contextlib.contextmanager
def _explained_errors(db_path):
    """Re-raise SQLite errors with the cache file they concern and what to do.

    A file that cannot be written (read-only folder or file) becomes a
    ``PermissionError``; a file that is not an SQLite database, is damaged, or
    lacks the cache's table stays an ``sqlite3.DatabaseError``. Neither is
    deleted or repaired here: the file may hold hours of model calls. Lock
    time-outs pass through unchanged.
    """
    try:
        yield
    except sqlite3.DatabaseError as error:
        message = str(error).lower()
        if "locked" in message or "busy" in message:
            raise
        if "readonly" in message or "unable to open" in message:
            raise PermissionError(
                f"Cannot write the LLM cache {str(db_path)!r} (SQLite: {error}); the cache "
                f"needs a writable folder and file. Make them writable, or {_REMEDY}."
            ) from error
        raise sqlite3.DatabaseError(
            f"The LLM cache file {str(db_path)!r} is damaged or is not an skllmers cache "
            f"(SQLite: {error}). Move it aside or delete it to start an empty cache (its "
            f"results are then computed again), or {_REMEDY}."
        ) from error


def _file_bytes(db_path):
    total = 0
    for suffix in ("", "-wal", "-shm"):
        candidate = Path(str(db_path) + suffix)
        if candidate.exists():
            total += candidate.stat().st_size
    return total


def resolve_cache(cache):
    """Turn a backend's ``cache`` parameter into an :class:`LLMCache` or ``None``.

    ``True`` means the default cache folder, ``None``/``False`` no cache, a
    string or path a cache folder, and an :class:`LLMCache` is used as is.
    """
    if cache is None or cache is False:
        return None
    if cache is True:
        return LLMCache()
    if isinstance(cache, LLMCache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return LLMCache(cache)
    raise TypeError(
        "cache must be True (default folder), None or False (no cache), a folder path "
        f"or an LLMCache; got {type(cache).__name__}."
    )
