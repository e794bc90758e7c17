"""Downloading MovieLens archives, against a local HTTP server the tests start themselves."""

from __future__ import annotations

import hashlib

import pytest

import skllmers.datasets._movielens as movielens_module
from skllmers.datasets import load_movielens
from skllmers.datasets._movielens import MOVIELENS_SHA256

ARCHIVE_PATH = "/movielens/ml-100k.zip"


@pytest.fixture
def server_with_100k(http_server, make_archive):
    data, digest = make_archive("100k")
    http_server.files[ARCHIVE_PATH] = data
    return http_server, data, digest


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_then_cache(tmp_path, server_with_100k):
    server, archive, digest = server_with_100k
    data = load_movielens("100k", data_home=tmp_path, base_url=server.url, checksum=digest,
                          verbose=False)
    assert len(data) == 4 and data.items.loc[242, "title"] == "Kolya"
    assert server.requests == [ARCHIVE_PATH]
    cached = tmp_path / "movielens" / "ml-100k.zip"
    assert cached.read_bytes() == archive
    assert leftovers(cached.parent) == ["ml-100k.zip"]  # no temporary file left behind

    again = load_movielens("100k", data_home=tmp_path, base_url=server.url, checksum=digest,
                           verbose=False)
    assert server.requests == [ARCHIVE_PATH]  # served from the cache: no second request
    assert again.to_pandas().equals(data.to_pandas())
    assert again.items.equals(data.items)


def test_base_url_and_data_home_from_environment(tmp_path, monkeypatch, server_with_100k):
    server, _, digest = server_with_100k
    monkeypatch.setenv("SKLLMERS_MOVIELENS_URL", server.url.rstrip("/"))  # slash optional
    monkeypatch.setenv("SKLLMERS_DATA", str(tmp_path / "env-home"))
    load_movielens("ml-100k", checksum=digest, verbose=False)
    assert server.requests == [ARCHIVE_PATH]
    assert (tmp_path / "env-home" / "movielens" / "ml-100k.zip").is_file()


def test_module_constant_is_the_default_url(tmp_path, monkeypatch, server_with_100k):
    server, _, digest = server_with_100k
    monkeypatch.delenv("SKLLMERS_MOVIELENS_URL", raising=False)
    monkeypatch.setattr(movielens_module, "MOVIELENS_URL", server.url)
    load_movielens("100k", data_home=tmp_path, checksum=digest, verbose=False)
    assert server.requests == [ARCHIVE_PATH]


def test_argument_beats_environment(tmp_path, monkeypatch, server_with_100k, closed_port_url):
    server, _, digest = server_with_100k
    monkeypatch.setenv("SKLLMERS_MOVIELENS_URL", closed_port_url)
    load_movielens("100k", data_home=tmp_path, base_url=server.url, checksum=digest,
                   verbose=False)
    assert server.requests == [ARCHIVE_PATH]


def test_checksum_mismatch_is_an_error_and_the_file_is_not_kept(tmp_path, server_with_100k):
    server, _, _ = server_with_100k
    # The fake archive is not the published ml-100k.zip, so the built-in checksum fails.
    with pytest.raises(OSError, match="SHA-256") as info:
        load_movielens("100k", data_home=tmp_path, base_url=server.url, verbose=False)
    message = str(info.value)
    assert MOVIELENS_SHA256["100k"] in message
    assert "deleted" in message
    assert leftovers(tmp_path / "movielens") == []
    # A later call downloads again (nothing bad was cached) and fails the same way.
    with pytest.raises(OSError, match="SHA-256"):
        load_movielens("100k", data_home=tmp_path, base_url=server.url, verbose=False)
    assert server.requests == [ARCHIVE_PATH, ARCHIVE_PATH]


def test_offline_message_names_the_file_and_the_exact_path(tmp_path, closed_port_url):
    with pytest.raises(OSError) as info:
        load_movielens("1m", data_home=tmp_path, base_url=closed_port_url, verbose=False)
    message = str(info.value)
    target = tmp_path.resolve() / "movielens" / "ml-1m.zip"
    assert f"{closed_port_url}ml-1m.zip" in message
    assert str(target) in message
    assert "by hand" in message and "offline" in message
    assert not target.exists() and leftovers(target.parent) == []


def test_server_stopped(tmp_path, server_with_100k):
    server, _, digest = server_with_100k
    load_movielens("100k", data_home=tmp_path, base_url=server.url, checksum=digest,
                   verbose=False)
    server.stop()
    # What is cached still loads; what is not fails with the manual-download hint.
    assert len(load_movielens("100k", data_home=tmp_path, base_url=server.url,
                              checksum=digest)) == 4
    with pytest.raises(OSError, match="Are you offline") as info:
        load_movielens("1m", data_home=tmp_path, base_url=server.url, verbose=False)
    assert str(tmp_path.resolve() / "movielens" / "ml-1m.zip") in str(info.value)
    assert server.requests == [ARCHIVE_PATH]


def test_missing_file_on_server(tmp_path, server_with_100k):
    server, _, _ = server_with_100k
    with pytest.raises(OSError, match="HTTP 404") as info:
        load_movielens("25m", data_home=tmp_path, base_url=server.url, verbose=False)
    assert "ml-25m.zip" in str(info.value) and "by hand" in str(info.value)
    assert server.requests == ["/movielens/ml-25m.zip"]
    assert leftovers(tmp_path / "movielens") == []


def test_timeout_is_reported_as_offline(tmp_path, silent_server_url):
    with pytest.raises(OSError, match="by hand") as info:
        load_movielens("100k", data_home=tmp_path, base_url=silent_server_url, timeout=0.3,
                       verbose=False)
    assert "timed out" in str(info.value).lower()
    assert leftovers(tmp_path / "movielens") == []


def test_truncated_transfer_is_not_kept(tmp_path, server_with_100k):
    server, _, digest = server_with_100k
    server.truncate = True
    with pytest.raises(OSError, match="Could not download"):
        load_movielens("100k", data_home=tmp_path, base_url=server.url, checksum=digest,
                       verbose=False, timeout=5)
    assert leftovers(tmp_path / "movielens") == []


def test_download_false_says_where_to_put_the_file(tmp_path, server_with_100k):
    server, _, digest = server_with_100k
    with pytest.raises(FileNotFoundError, match="download=False") as info:
        load_movielens("100k", data_home=tmp_path, base_url=server.url, checksum=digest,
                       download=False)
    assert str(tmp_path.resolve() / "movielens" / "ml-100k.zip") in str(info.value)
    assert server.requests == []


def test_cached_file_with_wrong_checksum_is_refused(tmp_path, server_with_100k):
    server, archive, digest = server_with_100k
    cached = tmp_path / "movielens" / "ml-100k.zip"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(archive[:-10])  # e.g. an interrupted manual download
    with pytest.raises(OSError, match="Delete it") as info:
        load_movielens("100k", data_home=tmp_path, base_url=server.url, checksum=digest,
                       verbose=False)
    assert str(cached.resolve()) in str(info.value)
    assert cached.exists()  # a file the user put there is not deleted behind their back
    assert server.requests == []
    # Trusting that file explicitly is possible, and a checksum in capitals is fine too.
    truncated_digest = hashlib.sha256(archive[:-10]).hexdigest().upper()
    with pytest.raises(OSError, match="not a readable zip"):
        load_movielens("100k", data_home=tmp_path, checksum=truncated_digest)


def test_progress_bar(tmp_path, server_with_100k, capsys):
    server, _, digest = server_with_100k
    load_movielens("100k", data_home=tmp_path / "a", base_url=server.url, checksum=digest,
                   verbose=True)
    assert "Downloading ml-100k.zip" in capsys.readouterr().err
    load_movielens("100k", data_home=tmp_path / "b", base_url=server.url, checksum=digest,
                   verbose=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
