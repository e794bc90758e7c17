"""load_movielens: the bundled latest-small, and each variant's parser on small archives."""

from __future__ import annotations

import hashlib
import zipfile
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from skllmers import InteractionData
from skllmers.datasets import load_movielens
from skllmers.datasets._movielens import MOVIELENS_SHA256, MOVIELENS_VARIANTS


# ---------------------------------------------------------------------- bundled latest-small
@pytest.fixture(scope="module")
def small():
    return load_movielens("latest-small")


def test_latest_small_sizes(small):
    assert isinstance(small, InteractionData)
    assert len(small) == 100836
    assert small.n_users == 610
    assert small.n_items == 9742
    assert len(small.items) == 9742
    # 9724 movies were rated; the other 18 are cold items from movies.csv.
    assert len(np.unique(small.item_codes)) == 9724
    assert small.users is None


def test_latest_small_ratings_and_timestamps(small):
    assert small.ratings.dtype == np.float32
    assert set(np.unique(small.ratings)) == set(np.arange(0.5, 5.01, 0.5))
    assert small.ratings.mean() == pytest.approx(3.5016, abs=1e-4)
    assert np.issubdtype(small.timestamps.dtype, np.integer)
    # Unix seconds between March 29, 1996 and September 24, 2018 (the README's dates).
    first, last = pd.to_datetime([small.timestamps.min(), small.timestamps.max()], unit="s")
    assert first.date() == pd.Timestamp("1996-03-29").date()
    assert last.date() == pd.Timestamp("2018-09-24").date()
    rows = small.to_pandas()
    first_row = rows.iloc[0]
    assert (first_row.user_id, first_row.item_id, first_row.rating, first_row.timestamp) == (
        1, 1, 4.0, 964982703)


def test_latest_small_items_table(small):
    items = small.items
    assert list(items.columns) == ["title", "year", "genres", "tags"]
    assert items.index.name == "movieId"
    assert items.index.equals(pd.Index(small.item_ids))
    assert str(items["year"].dtype) == "Int64"
    known = {
        1: ("Toy Story", 1995, "Adventure, Animation, Children, Comedy, Fantasy"),
        11: ("American President, The", 1995, "Comedy, Drama, Romance"),
        260: ("Star Wars: Episode IV - A New Hope", 1977, "Action, Adventure, Sci-Fi"),
        29: ("City of Lost Children, The (Cité des enfants perdus, La)", 1995,
             "Adventure, Drama, Fantasy, Mystery, Sci-Fi"),
    }
    for movie, (title, year, genres) in known.items():
        assert items.loc[movie, "title"] == title
        assert items.loc[movie, "year"] == year
        assert items.loc[movie, "genres"] == genres
    # Titles without a year keep their name and get a missing year.
    assert items.loc[176601, "title"] == "Black Mirror"
    assert pd.isna(items.loc[176601, "year"])
    assert items["year"].isna().sum() == 12
    # A year range "(2006–2007)" gives its first year; trailing blanks are tolerated.
    assert items.loc[171749, "title"] == "Death Note: Desu nôto"  # "(2006–2007)"
    assert items.loc[171749, "year"] == 2006
    assert items.loc[27008, "title"] == "From Dusk Till Dawn 2: Texas Blood Money"  # "(1999) "
    assert items.loc[27008, "year"] == 1999
    assert not items["title"].str.contains(r"\(\d{4}\)\s*$").any()
    # "(no genres listed)" becomes missing, and no genre text keeps the "|" separator.
    assert items["genres"].isna().sum() == 34
    assert not items["genres"].dropna().str.contains("|", regex=False).any()


def test_latest_small_tags(small):
    tags = small.items["tags"]
    assert tags.notna().sum() == 1572  # movies with at least one tag application
    assert tags.loc[1] == "pixar, fun"
    star_wars = tags.loc[260].split(", ")
    assert "space" in star_wars and "darth vader" in star_wars
    assert len(star_wars) == len({t.lower() for t in star_wars})  # distinct, any case
    text = small.item_text()
    assert text.loc[1] == "Toy Story. Adventure, Animation, Children, Comedy, Fantasy. pixar, fun"
    assert (text.str.len() > 0).all()


def test_latest_small_works_with_the_data_contract(small):
    matrix = small.to_csr()
    assert matrix.shape == (610, 9742)
    assert matrix.nnz == 100836  # one rating per (user, movie)
    part = small.iloc[:10]
    assert part.items is small.items


def test_bundled_files_are_the_published_ones():
    folder = resources.files("skllmers.datasets").joinpath("data")
    archive = folder.joinpath("ml-latest-small.zip").read_bytes()
    assert hashlib.sha256(archive).hexdigest() == MOVIELENS_SHA256["latest-small"]
    readme = folder.joinpath("ml-latest-small-README.txt").read_text(encoding="utf-8")
    assert "Usage License" in readme and "Harper and Joseph A. Konstan" in readme
    with zipfile.ZipFile(folder.joinpath("ml-latest-small.zip").open("rb")) as zipped:
        assert zipped.read("ml-latest-small/README.txt").decode("utf-8") == readme


def test_latest_small_needs_no_network_or_cache(tmp_path, monkeypatch, closed_port_url):
    monkeypatch.setenv("SKLLMERS_MOVIELENS_URL", closed_port_url)
    monkeypatch.setenv("SKLLMERS_DATA", str(tmp_path / "unused"))
    data = load_movielens("ml-Latest-Small", download=False)
    assert len(data) == 100836
    assert not (tmp_path / "unused").exists()


# ---------------------------------------------------------------------- variant names
@pytest.mark.parametrize("bad", ["10m", "latest", "ml-100", "", 100])
def test_unknown_variant_lists_the_valid_ones(bad):
    with pytest.raises(ValueError, match="Unknown MovieLens variant") as info:
        load_movielens(bad)
    for variant in MOVIELENS_VARIANTS:
        assert repr(variant) in str(info.value)


def test_every_downloadable_variant_has_a_checksum():
    assert set(MOVIELENS_SHA256) == set(MOVIELENS_VARIANTS)
    for digest in MOVIELENS_SHA256.values():
        assert len(digest) == 64 and int(digest, 16) >= 0


# ---------------------------------------------------------------------- parsers
def test_parse_100k(cached_archive):
    home, digest = cached_archive("100k")
    data = load_movielens("100k", data_home=home, download=False, checksum=digest)
    assert len(data) == 4
    rows = data.to_pandas()
    assert rows.iloc[0].tolist() == [196, 242, 3.0, 881250949]
    assert data.ratings.dtype == np.float32
    items = data.items
    assert list(items.columns) == ["title", "year", "genres", "release_date"]
    assert items.loc[242, "title"] == "Kolya" and items.loc[242, "year"] == 1996
    assert items.loc[302, "genres"] == "Crime, Film-Noir, Mystery, Thriller"
    assert items.loc[377, "title"] == "Misérables, Les"  # latin-1 decoded
    assert items.loc[377, "genres"] == "Drama, Musical"
    assert items.loc[242, "release_date"] == pd.Timestamp("1997-01-24")
    # The placeholder movie: no year, no date, and the "unknown" genre flag is no genre.
    assert items.loc[267, "title"] == "unknown"
    assert pd.isna(items.loc[267, "year"]) and pd.isna(items.loc[267, "genres"])
    assert pd.isna(items.loc[267, "release_date"])
    # Quotes are text, and a title without "(year)" takes the release date's year.
    assert items.loc[1300, "title"] == 'Big "Hit", The'
    assert items.loc[1300, "year"] == 1998
    assert set(data.item_ids) == {242, 302, 377, 267, 1300}  # unrated movies are cold
    users = data.users
    assert list(users.columns) == ["age", "gender", "occupation", "zip_code"]
    assert users.loc[196].tolist() == [49, "M", "writer", "55105"]
    assert users.loc[186, "zip_code"] == "00000"  # zip codes stay text
    assert users.loc[22, "zip_code"] == "T8H1N"
    assert 900 in data.user_ids  # a user with no ratings is cold


def test_parse_100k_without_optional_files(cached_archive):
    # Without u.genre the genre names are the documented ones; without u.user no users.
    home, digest = cached_archive("100k", without=("u.genre", "u.user"))
    data = load_movielens("100k", data_home=home, download=False, checksum=digest)
    assert data.items.loc[302, "genres"] == "Crime, Film-Noir, Mystery, Thriller"
    assert data.users is None
    assert data.n_users == 3


def test_parse_csv_without_tags(cached_archive):
    home, digest = cached_archive("20m", without=("tags.csv",))
    data = load_movielens("20m", data_home=home, download=False, checksum=digest)
    assert list(data.items.columns) == ["title", "year", "genres"]


def test_parse_1m(cached_archive):
    home, digest = cached_archive("1m")
    data = load_movielens("1m", data_home=home, download=False, checksum=digest)
    assert len(data) == 4
    assert data.to_pandas().iloc[1].tolist() == [1, 661, 3.0, 978302109]
    items = data.items
    assert list(items.columns) == ["title", "year", "genres"]
    assert items.loc[661, "title"] == "James and the Giant Peach"
    assert items.loc[661, "genres"] == "Animation, Children's, Musical"
    assert items.loc[73, "title"] == "Misérables, Les"
    assert items.loc[2000, "title"] == 'Lethal "Weapon": Part: One'
    assert items.loc[2000, "year"] == 1987
    assert 73 in data.item_ids and 2000 in data.item_ids
    users = data.users
    assert list(users.columns) == ["age", "gender", "occupation", "zip_code"]
    assert users.loc[1].tolist() == [1, "F", "K-12 student", "48067"]
    assert users.loc[2, "occupation"] == "self-employed" and users.loc[2, "age"] == 56
    assert users.loc[3, "occupation"] == "scientist"


@pytest.mark.parametrize("variant", ["20m", "25m"])
def test_parse_csv_variants(cached_archive, variant):
    home, digest = cached_archive(variant)
    data = load_movielens(variant, data_home=home, download=False, checksum=digest)
    assert len(data) == 4
    assert data.to_pandas().iloc[2].tolist() == [2, 1, 0.5, 1445714994]
    items = data.items
    assert list(items.columns) == ["title", "year", "genres", "tags"]
    assert items.loc[3, "title"] == "American President, The"
    assert items.loc[50, "title"] == "Death Note: Desu nôto" and items.loc[50, "year"] == 2006
    assert pd.isna(items.loc[50, "genres"])
    assert items.loc[60, "title"] == "Black Mirror" and pd.isna(items.loc[60, "year"])
    assert items.loc[70, "title"] == "NA"  # not read as a missing value
    assert items.loc[80, "title"] == "From Dusk Till Dawn 2: Texas Blood Money"
    # Tags: distinct regardless of case (first spelling kept), most used first, stripped.
    assert items.loc[1, "tags"] == "pixar, fun"
    assert items.loc[3, "tags"] == "politics, US"
    assert items.loc[60, "tags"] == "null, dystopia"
    assert pd.isna(items.loc[50, "tags"])
    assert data.users is None


def test_wrong_archive_says_what_is_missing(tmp_path):
    from zipfile import ZipFile

    folder = tmp_path / "movielens"
    folder.mkdir()
    with ZipFile(folder / "ml-1m.zip", "w") as archive:
        archive.writestr("ml-1m/README", "nothing here")
    digest = hashlib.sha256((folder / "ml-1m.zip").read_bytes()).hexdigest()
    with pytest.raises(OSError, match="has no 'ratings.dat'"):
        load_movielens("1m", data_home=tmp_path, download=False, checksum=digest)


def test_not_a_zip_is_reported(tmp_path):
    folder = tmp_path / "movielens"
    folder.mkdir()
    (folder / "ml-100k.zip").write_bytes(b"<html>not a zip</html>")
    digest = hashlib.sha256(b"<html>not a zip</html>").hexdigest()
    with pytest.raises(OSError, match="not a readable zip archive"):
        load_movielens("100k", data_home=tmp_path, download=False, checksum=digest)
