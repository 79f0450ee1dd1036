"""Network failures read as sentences: what was asked, what happened, what to do; no urllib3 internals."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from ocm_engine.errors import CatalogError, one_line
from ocm_engine.stac.http import fetch_json, request_error
from tests.helpers.stac_server import StacServer

INTERNALS = ("HTTPConnectionPool", "HTTPSConnectionPool", "Max retries", "Caused by", "urllib3", "NewConnectionError",
             "NameResolutionError", "object at 0x", "[Errno")


def _assert_worded(message: str, *must: str) -> None:
    assert not [bad for bad in INTERNALS if bad in message], message
    assert message.endswith("."), message  # a whole sentence, not a cut-off fragment
    for word in must:
        assert word in message, (word, message)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def test_refused_connection(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/catalog.json"
    with pytest.raises(CatalogError) as err:
        fetch_json(url, timeout_s=5)
    _assert_worded(str(err.value), url, "refused", "Check the URL")
    from ocm_engine.cli import main

    assert main(["search", "--catalog", url.rsplit("/", 1)[0] + "/", "--bbox", "13.3,52.4,13.5,52.6",
                 "--timeout", "5"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: ") and "\n" not in line
    _assert_worded(line, "refused")


def test_timeout_names_the_time_allowed(silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}/catalog.json"
    with pytest.raises(CatalogError) as err:
        fetch_json(url, timeout_s=0.5)
    assert (err.value.kind, err.value.timeout_s, err.value.url, err.value.status) == ("timeout", 0.5, url, None)
    _assert_worded(str(err.value), url, "did not answer within 0.5 s", "timeout_s=")
    _assert_worded(err.value.describe("cli"), "--timeout")
    assert "--" not in err.value.describe("app") and "timeout_s" not in err.value.describe("app")


def test_unknown_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*_args: object, **_kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)  # what a DNS miss raises, without asking a resolver
    with pytest.raises(CatalogError) as err:
        fetch_json("http://catalog.example.org/stac/catalog.json", timeout_s=5)
    _assert_worded(str(err.value), "catalog.example.org could not be found", "DNS")


def test_http_status_from_a_loopback_catalog() -> None:
    with StacServer() as server:
        url = server.add_status("/gone.json", 404)
        with pytest.raises(CatalogError) as err:
            fetch_json(url, timeout_s=5)
    _assert_worded(str(err.value), "404 Not Found")


@pytest.mark.parametrize(("raw", "kind", "words"), [
    ("CURL error: Could not resolve host: tiles.example.org", "dns", "could not be found"),
    ("CURL error: Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server", "refused",
     "refused"),
    ("HTTPSConnectionPool(host='a.example', port=443): Max retries exceeded with url: /x.tif (Caused by "
     "SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed')))", "tls",
     "TLS"),
    ("('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))", "closed",
     "closed"),
    ("HTTPConnectionPool(host='10.0.0.1', port=80): Max retries exceeded with url: /x (Caused by "
     "NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new "
     "connection: [Errno 101] Network is unreachable'))", "unreachable", "cannot be reached"),
    ("something odd " + "word " * 80, "other", "the request failed"),
])
def test_library_wordings_become_sentences(raw: str, kind: str, words: str) -> None:
    err = request_error(CatalogError, raw, "https://a.example/item-404-timeout.json?sig=secret")
    # classified by the library's words, never by the URL (which holds "404" and "timeout")
    assert (err.kind, err.status, err.url) == (kind, None, "https://a.example/item-404-timeout.json?...")
    message = str(err)
    _assert_worded(message, words, "https://a.example/item-404-timeout.json")
    assert "secret" not in message  # the query string (a signature) is left out
    if "…" in message:  # shortened: at a whole word
        assert message.split("…")[0].split()[-1] in raw.split()


def test_one_line_never_cuts_a_word() -> None:
    text = "The catalog answered something long " + "supercalifragilistic " * 20
    short = one_line(text, limit=60)
    assert len(short) <= 60 and short.endswith("…")
    assert all(word in text.split() for word in short[:-1].split())
    assert one_line("a\n  b") == "a b"
