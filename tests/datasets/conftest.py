"""Fixtures for the dataset tests: small archives in each MovieLens format, a local server."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

GENRES_100K = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]


def _flags(*names):
    return "|".join("1" if g in names else "0" for g in GENRES_100K)


# ml-100k: u.data is tab-separated, the rest pipe-separated latin-1.
U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881251000\n22\t377\t1\t878887116\n"
U_ITEM = "\n".join([
    f"242|Kolya (1996)|24-Jan-1997||http://us.imdb.com/M/title-exact?Kolya%20(1996)|{_flags('Comedy')}",
    f"302|L.A. Confidential (1997)|01-Jan-1997||http://us.imdb.com/x|{_flags('Crime', 'Film-Noir', 'Mystery', 'Thriller')}",
    f"377|Misérables, Les (1995)|01-Jan-1995||http://us.imdb.com/y|{_flags('Drama', 'Musical')}",
    f"267|unknown||||{_flags('unknown')}",
    f'1300|Big "Hit", The|15-Mar-1998||http://us.imdb.com/z|{_flags("Action", "Comedy")}',
]) + "\n"
U_GENRE = "\n".join(f"{g}|{i}" for i, g in enumerate(GENRES_100K)) + "\n\n"
U_USER = "196|49|M|writer|55105\n186|39|F|executive|00000\n22|25|M|writer|T8H1N\n900|30|F|artist|01002\n"

# ml-1m: everything "::"-separated, movies and users latin-1.
RATINGS_DAT = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n2::3408::4::978299000\n"
MOVIES_DAT = "\n".join([
    "1193::One Flew Over the Cuckoo's Nest (1975)::Drama",
    "661::James and the Giant Peach (1996)::Animation|Children's|Musical",
    "3408::Erin Brockovich (2000)::Drama",
    "73::Misérables, Les (1995)::Drama|Musical",
    '2000::Lethal "Weapon": Part: One (1987)::Action|Comedy|Crime|Drama',
]) + "\n"
USERS_DAT = "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55117\n"

# ml-20m / ml-25m / latest: csv files with headers, UTF-8.
RATINGS_CSV = (
    "userId,movieId,rating,timestamp\n"
    "1,1,4.0,964982703\n1,3,4.5,964981247\n2,1,0.5,1445714994\n2,50,5.0,1445715000\n"
)
MOVIES_CSV = (
    "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
    '3,"American President, The (1995)",Comedy|Drama|Romance\n'
    "50,Death Note: Desu nôto (2006–2007),(no genres listed)\n"
    "60,Black Mirror,Drama|Sci-Fi\n"
    "70,NA,Documentary\n"
    "80,From Dusk Till Dawn 2: Texas Blood Money (1999) ,Comedy|Horror\n"
)
TAGS_CSV = (
    "userId,movieId,tag,timestamp\n"
    "1,1,pixar,1\n2,1,fun,2\n3,1,Pixar,3\n4,1,fun,4\n5,1,pixar,5\n"
    '6,3,"politics, US",6\n7,60,null,7\n8,60, dystopia ,8\n'
)


def fake_archive(variant: str, without=()) -> bytes:
    """A tiny archive laid out and encoded like the real ``ml-<variant>.zip``."""
    if variant == "100k":
        files = {"u.data": (U_DATA, "ascii"), "u.item": (U_ITEM, "latin-1"),
                 "u.genre": (U_GENRE, "latin-1"), "u.user": (U_USER, "latin-1"),
                 "ua.base": ("1\t1\t1\t1\n", "ascii")}  # another split, ignored
    elif variant == "1m":
        files = {"ratings.dat": (RATINGS_DAT, "ascii"), "movies.dat": (MOVIES_DAT, "latin-1"),
                 "users.dat": (USERS_DAT, "latin-1")}
    else:
        files = {"ratings.csv": (RATINGS_CSV, "utf-8"), "movies.csv": (MOVIES_CSV, "utf-8"),
                 "tags.csv": (TAGS_CSV, "utf-8"),
                 "links.csv": ("movieId,imdbId,tmdbId\n1,0114709,862\n", "utf-8")}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"ml-{variant}/", "")
        for name, (text, encoding) in files.items():
            if name not in without:
                archive.writestr(f"ml-{variant}/{name}", text.encode(encoding))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FakeServer:
    """A local HTTP server: ``files`` maps URL paths to bodies; ``requests`` logs GETs."""

    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    truncate: bool = False  # announce more bytes than are sent, then hang up
    stop: object = None  # call to shut the server down (the port then refuses connections)


@pytest.fixture
def http_server():
    state = FakeServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            state.requests.append(self.path)
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(body) + (1000 if state.truncate else 0)))
            self.end_headers()
            self.wfile.write(body)
            if state.truncate:
                self.close_connection = True

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/movielens/"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    stopped = []

    def stop():
        if not stopped:
            stopped.append(True)
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    state.stop = stop
    try:
        yield state
    finally:
        stop()


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/movielens/"


@pytest.fixture
def silent_server_url():
    """A URL whose server accepts connections but never answers (to test timeouts)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/movielens/"
    finally:
        listener.close()


@pytest.fixture
def make_archive():
    """``make_archive(variant, without=()) -> (zip bytes, sha256)`` in that variant's format."""

    def make(variant: str, without=()) -> tuple[bytes, str]:
        data = fake_archive(variant, without)
        return data, sha256(data)

    return make


@pytest.fixture
def cached_archive(tmp_path, make_archive):
    """``cached_archive(variant, without=()) -> (data_home, sha256)``, archive in the cache."""

    def put(variant: str, without=()):
        data, digest = make_archive(variant, without)
        folder = tmp_path / "home" / "movielens"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"ml-{variant}.zip").write_bytes(data)
        return tmp_path / "home", digest

    return put
