"""Where downloaded data sets live, and how they get there (download, checksum, cache)."""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["get_data_home", "clear_data_home"]

DATA_HOME_ENV = "SKLLMERS_DATA"
_CHUNK = 1 << 20


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """The folder where skllmers caches downloaded data sets (created if missing).

    The folder is, in order of precedence: the ``data_home`` argument, the environment
    variable ``SKLLMERS_DATA``, or ``~/skllmers_data``. A leading ``~`` is expanded.

    Parameters
    ----------
    data_home : str or path-like, optional
        The folder to use; ``None`` falls back to ``SKLLMERS_DATA``, then to
        ``~/skllmers_data``.

    Returns
    -------
    pathlib.Path
        The absolute path of the folder, which exists on return.

    See Also
    --------
    clear_data_home : Delete the folder and everything in it.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from skllmers.datasets import get_data_home
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     home = get_data_home(Path(tmp) / "cache")
    ...     print(home.is_dir(), home.name)
    True cache
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or Path("~") / "skllmers_data"
    path = Path(data_home).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def clear_data_home(data_home: str | os.PathLike | None = None) -> None:
    """Delete the data-set cache folder and all it holds.

    Parameters
    ----------
    data_home : str or path-like, optional
        The folder to delete; resolved as in :func:`get_data_home`.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from skllmers.datasets import clear_data_home, get_data_home
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     home = get_data_home(Path(tmp) / "cache")
    ...     _ = (home / "ml-100k.zip").write_bytes(b"...")
    ...     clear_data_home(home)
    ...     print(home.exists())
    False
    """
    shutil.rmtree(get_data_home(data_home))


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 digest of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# Everything that means "the server could not be reached or did not answer in full".
_NETWORK_ERRORS = (
    urllib.error.URLError,  # includes HTTPError
    http.client.HTTPException,
    socket.timeout,
    TimeoutError,
    ConnectionError,
)


def manual_download_hint(url: str, target: Path) -> str:
    """How to fetch ``url`` by hand so that it lands where the loader looks for it."""
    return (
        f"Download {url} by hand (e.g. in a browser or with `curl -L -o`) and save it, "
        f"unchanged and not unpacked, as\n    {target}\nthen call the loader again. "
        f"(Pass data_home=... or set ${DATA_HOME_ENV} to use another cache folder.)"
    )


def fetch_file(
    url: str,
    target: Path,
    *,
    sha256: str,
    timeout: float = 60.0,
    verbose: bool = True,
) -> Path:
    """Download ``url`` to ``target``, checking its SHA-256 before it becomes visible.

    The body is streamed to a temporary file beside ``target``; only when it is complete
    and its digest equals ``sha256`` is it renamed (atomically) to ``target``. On any
    failure the partial or mismatching file is removed, so the cache never holds a file
    the loaders would trust wrongly.

    Raises
    ------
    OSError
        When the server cannot be reached or the transfer breaks (the message says which
        file to fetch by hand and where to put it), or when the digest does not match.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                total = resp.headers.get("Content-Length")
                total = int(total) if total and total.isdigit() else None
                received = 0
                with _progress(total, target.name, verbose) as bar:
                    for chunk in iter(lambda: resp.read(_CHUNK), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                if total is not None and received != total:
                    raise http.client.IncompleteRead(b"", total - received)
        except _NETWORK_ERRORS as exc:
            if isinstance(exc, urllib.error.HTTPError):
                what = f"the server answered HTTP {exc.code} ({exc.reason})."
            else:
                reason = getattr(exc, "reason", None) or exc
                what = (f"{type(exc).__name__}: {reason}. Are you offline, or is the "
                        "server down?")
            raise OSError(
                f"Could not download {url}: {what}\n" + manual_download_hint(url, target)
            ) from exc
        actual = digest.hexdigest()
        if actual != sha256.lower():
            raise OSError(
                f"The file downloaded from {url} has SHA-256 {actual}, but {sha256} was "
                "expected: it is corrupt or not the published file, so it was deleted. "
                "Try again; if the publisher changed the file on purpose, pass its new "
                "checksum explicitly (checksum=...)."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _progress(total: int | None, name: str, verbose: bool):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=f"Downloading {name}",
        disable=not verbose,
        leave=False,
    )
