"""Network failures: classified by the errors' types into fields; messages without urllib3 internals."""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
from collections.abc import Iterator

import pytest
import requests
import urllib3.exceptions
from rasterio._err import CPLE_HttpResponseError
from rasterio.errors import RasterioIOError
from urllib3.exceptions import MaxRetryError, NewConnectionError

from ocm_engine.errors import AssetReadError, CatalogError, one_line
from ocm_engine.stac.http import asset_error, classify, fetch_json, request_error
from tests.helpers.stac_server import StacServer

INTERNALS = ("HTTPConnectionPool", "HTTPSConnectionPool", "Max retries", "Caused by", "urllib3", "NewConnectionError",
             "NameResolutionError", "object at 0x", "[Errno")


def _assert_worded(message: str, *must: str) -> None:
    assert not [bad for bad in INTERNALS if bad in message], message
    assert message.endswith("."), message  # a whole sentence, not a cut-off fragment
    for word in must:
        assert word in message, (word, message)


def _response(status: int) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    return response


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
    assert (err.value.kind, err.value.status, err.value.url) == ("refused", None, url)
    assert err.value.subject == f"Catalog {url}" and err.value.hints is not None
    _assert_worded(str(err.value))
    from ocm_engine.cli import main

    assert main(["search", "--catalog", url.rsplit("/", 1)[0] + "/", "--bbox", "13.3,52.4,13.5,52.6",
                 "--timeout", "5"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: ") and "\n" not in line
    _assert_worded(line, "refused")  # what the CLI prints says what happened, in words


def test_timeout_names_the_time_allowed(silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}/catalog.json"
    with pytest.raises(CatalogError) as err:
        fetch_json(url, timeout_s=0.5)
    assert (err.value.kind, err.value.timeout_s, err.value.url, err.value.status) == ("timeout", 0.5, url, None)
    assert "within 0.5 s" in str(err.value.arrived)
    assert "timeout_s=" in err.value.hint("python") and "--timeout" in err.value.hint("cli")
    _assert_worded(str(err.value))
    assert "--" not in err.value.describe("app") and "timeout_s" not in err.value.describe("app")


def test_unknown_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*_args: object, **_kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)  # what a DNS miss raises, without asking a resolver
    with pytest.raises(CatalogError) as err:
        fetch_json("http://catalog.example.org/stac/catalog.json", timeout_s=5)
    assert (err.value.kind, err.value.status) == ("dns", None)
    assert "catalog.example.org" in str(err.value.arrived)
    _assert_worded(str(err.value))


def test_http_status_from_a_loopback_catalog() -> None:
    with StacServer() as server:
        url = server.add_status("/gone.json", 404)
        with pytest.raises(CatalogError) as err:
            fetch_json(url, timeout_s=5)
    assert (err.value.status, err.value.kind, err.value.arrived, err.value.url) == (
        404, "status", "HTTP 404 Not Found", url)
    _assert_worded(str(err.value))


def _gdal(message: str) -> Exception:
    """What rasterio raises for a failed /vsicurl/ request: one type, the failure in GDAL's words."""
    err = RasterioIOError(message)
    err.__cause__ = CPLE_HttpResponseError(1, 11, message)
    return err


def _refused_by_urllib3() -> Exception:
    new = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")  # type: ignore[arg-type]
    new.__cause__ = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    return requests.ConnectionError(MaxRetryError(None, "/x.tif", reason=new))  # type: ignore[arg-type]


def _unreachable() -> Exception:
    new = NewConnectionError(None, "<urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new "  # type: ignore[arg-type]
                             "connection: [Errno 101] Network is unreachable")
    new.__cause__ = OSError(errno.ENETUNREACH, "Network is unreachable")
    return requests.ConnectionError(MaxRetryError(None, "/x", reason=new))  # type: ignore[arg-type]


@pytest.mark.parametrize(("raised", "kind", "status"), [
    (_gdal("CURL error: Could not resolve host: tiles.example.org"), "dns", None),
    (_gdal("CURL error: Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server"), "refused",
     None),
    (_gdal("CURL error: Failed to connect to 127.0.0.1 port 9 after 0 ms: Could not connect to server"), "refused",
     None),
    (_gdal("CURL error: Operation timed out after 2001 milliseconds with 0 bytes received"), "timeout", None),
    (_gdal("CURL error: Failed to connect to ssl.example.org port 443 after 1 ms: Couldn't connect to server"),
     "refused", None),  # a host name is no TLS error
    (_gdal("CURL error: SSL certificate problem: unable to get local issuer certificate"), "tls", None),
    (_gdal("HTTP response code: 403"), "status", 403),
    (requests.exceptions.SSLError(MaxRetryError(None, "/x.tif", reason=urllib3.exceptions.SSLError(  # type: ignore[arg-type]
        ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")))), "tls", None),
    (requests.ConnectionError(urllib3.exceptions.ProtocolError(
        "Connection aborted.", http.client.RemoteDisconnected("Remote end closed connection without response"))),
     "closed", None),
    (_refused_by_urllib3(), "refused", None),  # urllib3's NewConnectionError is a ConnectTimeoutError: no timeout
    (_unreachable(), "unreachable", None),
    (requests.exceptions.ReadTimeout("read timed out"), "timeout", None),
    (requests.HTTPError(response=_response(502)), "status", 502),
    # words are read from GDAL's curl errors only: another error that says "404" or "timed out" is not classified
    (RuntimeError("HTTP response code: 404, timed out"), "other", None),
])
def test_failures_are_classified_by_type(raised: Exception, kind: str, status: int | None) -> None:
    err = asset_error(raised, "https://a.example/item-404-timeout.json?sig=secret")
    failure = classify(raised)
    assert (err.kind, err.status, failure.kind, failure.status) == (kind, status, kind, status)
    assert err.url == "https://a.example/item-404-timeout.json?..." and isinstance(err, AssetReadError)
    assert err.subject == "Asset https://a.example/item-404-timeout.json?..."
    message = str(err)
    _assert_worded(message)
    assert "secret" not in message  # the query string (a signature) is left out


def test_an_unknown_failure_shows_its_own_words_cut_at_a_word() -> None:
    raw = "something odd " + "word " * 80
    err = request_error(CatalogError, "https://a.example/x.json", detail=classify(ValueError(raw)).detail)
    assert (err.kind, err.status) == ("other", None)
    assert "…" in str(err.arrived) and str(err.arrived).split("…")[0].split()[-1] in raw.split()
    _assert_worded(str(err))


def test_one_line_never_cuts_a_word() -> None:
    text = "The catalog answered something long " + "supercalifragilistic " * 20
    short = one_line(text, limit=60)
    assert len(short) <= 60 and short.endswith("…")
    assert all(word in text.split() for word in short[:-1].split())
    assert one_line("a\n  b") == "a b"
