"""MovieLens rating data sets (GroupLens Research): bundled ``latest-small`` and downloads."""

from __future__ import annotations

import csv
import io
import os
import zipfile
from importlib import resources

import numpy as np
import pandas as pd

from .._interaction_data import InteractionData
from ._base import fetch_file, get_data_home, manual_download_hint, sha256_of

__all__ = ["load_movielens", "MOVIELENS_URL", "MOVIELENS_SHA256", "MOVIELENS_VARIANTS"]

#: Where the archives are downloaded from; ``ml-<variant>.zip`` is appended. Override with
#: the ``base_url`` argument of :func:`load_movielens` or the environment variable
#: ``SKLLMERS_MOVIELENS_URL`` (e.g. to use a mirror).
MOVIELENS_URL = "https://files.grouplens.org/datasets/movielens/"
URL_ENV = "SKLLMERS_MOVIELENS_URL"

#: SHA-256 of each archive as GroupLens serves it. GroupLens publishes MD5 sums only
#: (``ml-<variant>.zip.md5``); these SHA-256 values agree across several independent
#: projects that pin the same archives, and "latest-small" is the bundled copy's. Pass
#: ``checksum=...`` to load_movielens to accept another file (should GroupLens re-issue
#: one); a mismatch is always an error, never skipped.
MOVIELENS_SHA256 = {
    "latest-small": "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
    "100k": "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
    "1m": "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
    "20m": "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
    "25m": "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
}

#: The variants :func:`load_movielens` knows, smallest first.
MOVIELENS_VARIANTS = ("latest-small", "100k", "1m", "20m", "25m")

_BUNDLED = "ml-latest-small.zip"

# ml-100k's u.genre, in flag order (used when an archive lacks u.genre).
_GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)

# ml-1m's README: occupation codes of users.dat.
_OCCUPATIONS_1M = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer",
    "homemaker", "K-12 student", "lawyer", "programmer", "retired", "sales/marketing",
    "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
    "unemployed", "writer",
)

_NO_GENRES = "(no genres listed)"

# "Title (1995)", "Title (2006-2007)", "Title (2006–)" with optional trailing blanks.
_TITLE_YEAR = r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$"


def load_movielens(
    variant: str = "latest-small",
    *,
    data_home: str | os.PathLike | None = None,
    download: bool = True,
    base_url: str | None = None,
    checksum: str | None = None,
    verbose: bool = True,
    timeout: float = 60.0,
) -> InteractionData:
    """Load a MovieLens rating data set as :class:`~skllmers.InteractionData`.

    ``"latest-small"`` ships inside skllmers and loads offline. The other variants are
    downloaded from GroupLens on first use into ``get_data_home(data_home)/movielens/``,
    checked against a known SHA-256 and read from the cached zip afterwards (no request;
    the cached file's SHA-256 is checked again on each load).

    ==================  ==========  =======  =======  =================================
    variant             ratings     users    movies   item text
    ==================  ==========  =======  =======  =================================
    ``"latest-small"``  100,836     610      9,742    title, year, genres, tags
    ``"100k"``          100,000     943      1,682    title, year, genres, release date
    ``"1m"``            1,000,209   6,040    3,883    title, year, genres
    ``"20m"``           20,000,263  138,493  27,278   title, year, genres, tags
    ``"25m"``           25,000,095  162,541  62,423   title, year, genres, tags
    ==================  ==========  =======  =======  =================================

    The data are © GroupLens Research, University of Minnesota, for research use only
    (no commercial use without permission; redistribution only under the same terms);
    publications must cite F. M. Harper and J. A. Konstan, "The MovieLens Datasets:
    History and Context", ACM TiiS 5(4), 2015. The bundled copy's own README is
    ``skllmers/datasets/data/ml-latest-small-README.txt``.

    Parameters
    ----------
    variant : {"latest-small", "100k", "1m", "20m", "25m"}, default="latest-small"
        Which data set; an ``"ml-"`` prefix and upper case are accepted.
    data_home : str or path-like, optional
        Cache folder for downloads (see :func:`get_data_home`). This and the other
        download options below are unused for the bundled ``"latest-small"``.
    download : bool, default=True
        Whether to download a variant missing from the cache. With ``False`` a missing
        file raises :class:`FileNotFoundError` saying where to put it.
    base_url : str, optional
        Server folder holding the ``ml-<variant>.zip`` archives. Defaults to the
        environment variable ``SKLLMERS_MOVIELENS_URL``, else :data:`MOVIELENS_URL`.
    checksum : str, optional
        Expected SHA-256 (hex) of the archive, overriding :data:`MOVIELENS_SHA256`. A
        downloaded or cached file that does not match is never used.
    verbose : bool, default=True
        Show a download progress bar.
    timeout : float, default=60.0
        Seconds to wait for the server before giving up.

    Returns
    -------
    InteractionData
        One row per rating: ``ratings`` holds the stars (0.5-5 or 1-5) and
        ``timestamps`` Unix seconds. ``items`` is indexed by ``movieId`` with columns
        ``title`` (release year stripped), ``year`` (nullable ``Int64``), ``genres``
        (comma-separated text, missing when none are listed), ``tags`` (the variant's
        free-text tags of the movie, most used first; only variants that have tags) and
        ``release_date`` (100k only). Movies nobody rated are kept as cold items.
        ``users`` (100k and 1m) holds ``age``, ``gender``, ``occupation`` and
        ``zip_code``; in 1m ``age`` is the lower bound of the age band (1 means under 18).

    Raises
    ------
    ValueError
        If ``variant`` is unknown (the message lists the valid ones).
    FileNotFoundError
        If the archive is not cached and ``download=False``.
    OSError
        If the download fails (offline, server down: the message names the file to
        fetch by hand and the exact path to save it to), or the archive's SHA-256 does
        not match.

    Examples
    --------
    >>> from skllmers.datasets import load_movielens
    >>> data = load_movielens("latest-small")
    >>> len(data), data.n_users, data.n_items
    (100836, 610, 9742)
    >>> toy_story = data.items.loc[1]
    >>> toy_story["title"], int(toy_story["year"]), toy_story["genres"]
    ('Toy Story', 1995, 'Adventure, Animation, Children, Comedy, Fantasy')
    >>> print(data.item_text().loc[1])
    Toy Story. Adventure, Animation, Children, Comedy, Fantasy. pixar, fun
    """
    variant = _check_variant(variant)
    if variant == "latest-small":
        archive = resources.files(__package__).joinpath("data", _BUNDLED)
        with resources.as_file(archive) as path:
            return _load_archive(path, variant)

    url = (base_url or os.environ.get(URL_ENV) or MOVIELENS_URL).rstrip("/") + f"/ml-{variant}.zip"
    expected = (checksum or MOVIELENS_SHA256[variant]).lower()
    target = get_data_home(data_home) / "movielens" / f"ml-{variant}.zip"
    if not target.exists():
        if not download:
            raise FileNotFoundError(
                f"MovieLens {variant!r} is not in the cache and download=False.\n"
                + manual_download_hint(url, target)
            )
        fetch_file(url, target, sha256=expected, timeout=timeout, verbose=verbose)
    else:
        actual = sha256_of(target)
        if actual != expected:
            raise OSError(
                f"The cached file {target} has SHA-256 {actual}, but {expected} was "
                "expected, so it is not the published archive (truncated or replaced?). "
                "Delete it to download it again, or pass checksum=... if you trust it."
            )
    return _load_archive(target, variant)


def _check_variant(variant) -> str:
    name = str(variant).strip().lower()
    name = name[3:] if name.startswith("ml-") else name
    if name not in MOVIELENS_VARIANTS:
        raise ValueError(
            f"Unknown MovieLens variant {variant!r}; choose one of "
            f"{', '.join(repr(v) for v in MOVIELENS_VARIANTS)}."
        )
    return name


def _load_archive(path, variant: str) -> InteractionData:
    parse = {"100k": _parse_100k, "1m": _parse_1m}.get(variant, _parse_csv_variant)
    try:
        with zipfile.ZipFile(path) as archive:
            ratings, items, users = parse(archive)
    except zipfile.BadZipFile as exc:
        raise OSError(f"{path} is not a readable zip archive: {exc}") from exc
    data = InteractionData.from_pandas(
        ratings, items, users, user_col="userId", item_col="movieId",
        rating_col="rating", time_col="timestamp",
    )
    data.items.index.name = "movieId"
    if data.users is not None:
        data.users.index.name = "userId"
    return data


# ---------------------------------------------------------------------- archive members
def _member(archive: zipfile.ZipFile, name: str) -> str:
    """The archive path of the file called ``name`` (in whatever folder the zip uses)."""
    matches = [m for m in archive.namelist() if m == name or m.endswith("/" + name)]
    if not matches:
        raise OSError(
            f"{archive.filename} has no {name!r}; is it the right MovieLens archive? "
            f"It holds {archive.namelist()[:10]}."
        )
    return min(matches, key=lambda m: m.count("/"))


def _has_member(archive: zipfile.ZipFile, name: str) -> bool:
    return any(m == name or m.endswith("/" + name) for m in archive.namelist())


def _read_separated(archive, name, sep, names, *, encoding="utf-8", dtype=None):
    """Read a header-less file whose fields are separated by ``sep`` (even ``"::"``).

    Multi-character separators are rewritten to a tab first so that the fast C parser
    reads the file; quotes are not special (titles hold bare ``"``).
    """
    raw = archive.read(_member(archive, name))
    if len(sep) > 1:
        raw = raw.replace(sep.encode(encoding), b"\t")
        sep = "\t"
    return pd.read_csv(
        io.BytesIO(raw), sep=sep, names=names, header=None, encoding=encoding,
        dtype=dtype, quoting=csv.QUOTE_NONE, keep_default_na=False, na_values=[""],
        engine="c",
    )


# ---------------------------------------------------------------------- text columns
def _split_title(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``"Heat (1995)"`` -> (``"Heat"``, 1995); titles without a year are kept whole."""
    raw = raw.astype("str").str.strip()
    parts = raw.str.extract(_TITLE_YEAR)
    title = parts["title"].where(parts["year"].notna(), raw)
    year = pd.to_numeric(parts["year"], errors="coerce").astype("Int64")
    return title.astype("str"), year


def _genres_text(pipes: pd.Series) -> pd.Series:
    text = pipes.astype("str").str.strip()
    text = text.where(~text.isin([_NO_GENRES, ""]))
    return text.str.replace("|", ", ", regex=False)


def _tags_text(tags: pd.DataFrame) -> pd.Series:
    """One text per movie: its distinct tags (case-insensitively), most used first."""
    tags = tags[["movieId", "tag"]].dropna()
    tags = tags.assign(tag=tags["tag"].astype("str").str.strip())
    tags = tags[tags["tag"] != ""]
    tags = tags.assign(key=tags["tag"].str.lower(), order=np.arange(len(tags)))
    grouped = tags.groupby(["movieId", "key"], sort=False).agg(
        tag=("tag", "first"), uses=("tag", "size"), first=("order", "min")
    ).reset_index()
    grouped = grouped.sort_values(["movieId", "uses", "first"], ascending=[True, False, True])
    return grouped.groupby("movieId", sort=False)["tag"].agg(", ".join).astype("str")


# ---------------------------------------------------------------------- parsers
def _parse_csv_variant(archive: zipfile.ZipFile):
    """latest-small, 20m, 25m: ``ratings.csv``, ``movies.csv`` and ``tags.csv`` (UTF-8)."""
    ratings = pd.read_csv(
        archive.open(_member(archive, "ratings.csv")),
        usecols=["userId", "movieId", "rating", "timestamp"],
        dtype={"userId": "int32", "movieId": "int32", "rating": "float32",
               "timestamp": "int64"},
    )
    movies = pd.read_csv(
        archive.open(_member(archive, "movies.csv")),
        dtype={"movieId": "int32", "title": "str", "genres": "str"},
        keep_default_na=False, na_values=[""],
    )
    title, year = _split_title(movies["title"])
    items = pd.DataFrame(
        {"title": title.array, "year": year.array,
         "genres": _genres_text(movies["genres"]).to_numpy()},
        index=pd.Index(movies["movieId"].to_numpy(), name="movieId"),
    )
    if _has_member(archive, "tags.csv"):
        tags = pd.read_csv(
            archive.open(_member(archive, "tags.csv")), usecols=["movieId", "tag"],
            dtype={"movieId": "int32", "tag": "str"}, keep_default_na=False, na_values=[""],
        )
        items["tags"] = _tags_text(tags).reindex(items.index)
    return ratings, items, None


def _parse_100k(archive: zipfile.ZipFile):
    """ml-100k: ``u.data`` (tabs), ``u.item`` and ``u.user`` (pipes, latin-1)."""
    ratings = _read_separated(
        archive, "u.data", "\t", ["userId", "movieId", "rating", "timestamp"],
        dtype={"userId": "int32", "movieId": "int32", "rating": "float32",
               "timestamp": "int64"},
    )
    genres = list(_GENRES_100K)
    if _has_member(archive, "u.genre"):
        listed = _read_separated(archive, "u.genre", "|", ["genre", "flag"],
                                 encoding="latin-1", dtype={"genre": "str", "flag": "Int64"})
        listed = listed.dropna()
        genres = listed.sort_values("flag")["genre"].tolist()
    names = ["movieId", "title", "release_date", "video_release_date", "imdb_url", *genres]
    movies = _read_separated(
        archive, "u.item", "|", names, encoding="latin-1",
        dtype={"movieId": "int32", "title": "str", "release_date": "str",
               "video_release_date": "str", "imdb_url": "str",
               **dict.fromkeys(genres, "int8")},
    )
    title, year = _split_title(movies["title"])
    released = pd.to_datetime(movies["release_date"], format="%d-%b-%Y", errors="coerce")
    year = year.fillna(released.dt.year.astype("Int64"))
    flags = movies[genres].to_numpy(dtype=bool)
    shown = np.array([g != "unknown" for g in genres])
    labels = np.array(genres, dtype=object)
    genre_text = [", ".join(labels[row & shown]) or None for row in flags]
    items = pd.DataFrame(
        {"title": title.array, "year": year.array,
         "genres": pd.array(genre_text, dtype="str"), "release_date": released.to_numpy()},
        index=pd.Index(movies["movieId"].to_numpy(), name="movieId"),
    )
    users = None
    if _has_member(archive, "u.user"):
        users = _read_separated(
            archive, "u.user", "|", ["userId", "age", "gender", "occupation", "zip_code"],
            encoding="latin-1",
            dtype={"userId": "int32", "age": "int16", "gender": "str", "occupation": "str",
                   "zip_code": "str"},
        ).set_index("userId")
    return ratings, items, users


def _parse_1m(archive: zipfile.ZipFile):
    """ml-1m: ``ratings.dat``, ``movies.dat`` and ``users.dat``, ``::``-separated."""
    ratings = _read_separated(
        archive, "ratings.dat", "::", ["userId", "movieId", "rating", "timestamp"],
        dtype={"userId": "int32", "movieId": "int32", "rating": "float32",
               "timestamp": "int64"},
    )
    movies = _read_separated(
        archive, "movies.dat", "::", ["movieId", "title", "genres"], encoding="latin-1",
        dtype={"movieId": "int32", "title": "str", "genres": "str"},
    )
    title, year = _split_title(movies["title"])
    items = pd.DataFrame(
        {"title": title.array, "year": year.array,
         "genres": _genres_text(movies["genres"]).to_numpy()},
        index=pd.Index(movies["movieId"].to_numpy(), name="movieId"),
    )
    users = None
    if _has_member(archive, "users.dat"):
        users = _read_separated(
            archive, "users.dat", "::", ["userId", "gender", "age", "occupation", "zip_code"],
            encoding="latin-1",
            dtype={"userId": "int32", "gender": "str", "age": "int16", "occupation": "int16",
                   "zip_code": "str"},
        ).set_index("userId")
        codes = users["occupation"].to_numpy()
        known = (codes >= 0) & (codes < len(_OCCUPATIONS_1M))
        names = np.array(_OCCUPATIONS_1M, dtype=object)[np.where(known, codes, 0)]
        users["occupation"] = pd.array(np.where(known, names, None), dtype="str")
        users = users[["age", "gender", "occupation", "zip_code"]]
    return ratings, items, users

