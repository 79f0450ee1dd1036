"""HTTP for STAC: timeouts everywhere, GDAL's ``/vsicurl/`` settings, and errors that say what to do.

Two clients talk to the network: ``requests`` (through pystac-client) for JSON, and GDAL's
curl layer for the rasters. Both get short timeouts and few retries, so a catalog that
does not answer, an expired signature (403) or a missing asset (404) becomes an
:class:`~ocm_engine.errors.OcmError` within seconds instead of a hang.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import socket
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

import rasterio
import requests
from rasterio._err import CPLE_HttpResponseError

from ocm_engine.checked_http import is_timeout
from ocm_engine.errors import AssetReadError, CatalogError, Hints, RequestFailureKind, one_line

_E = TypeVar("_E", CatalogError, AssetReadError)

#: Seconds before a request (JSON or raster range) that gets no answer fails.
DEFAULT_TIMEOUT_S = 20.0
#: Retries of a failed raster request (GDAL retries 429/5xx and timeouts).
DEFAULT_MAX_RETRY = 1
RASTER_EXTENSIONS = ".tif,.tiff,.TIF,.TIFF,.jp2,.JP2,.vrt"
USER_AGENT = "ocm-studio (cloud masking; +pystac-client)"


def gdal_http_options(timeout_s: float = DEFAULT_TIMEOUT_S, max_retry: int | None = None) -> dict[str, str]:
    """GDAL configuration for fast, bounded windowed reads of remote COGs.

    Args:
        timeout_s: Seconds before a stalled request fails (rounded up to whole seconds).
        max_retry: Retries of failed requests (default :data:`DEFAULT_MAX_RETRY`).

    Returns:
        Config options for :class:`rasterio.Env` (or environment variables of workers).
    """
    seconds = str(max(1, int(-(-timeout_s // 1))))
    return {
        "GDAL_HTTP_TIMEOUT": seconds,
        "GDAL_HTTP_CONNECTTIMEOUT": seconds,
        "GDAL_HTTP_MAX_RETRY": str(DEFAULT_MAX_RETRY if max_retry is None else max_retry),
        "GDAL_HTTP_RETRY_DELAY": "0.5",
        # only ask the server for the file itself: no sidecar probing (.aux.xml, .ovr, .msk)
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": RASTER_EXTENSIONS,
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_HTTP_MULTIPLEX": "YES",
        "GDAL_HTTP_USERAGENT": USER_AGENT,
        "VSI_CACHE": "TRUE",
    }


@contextlib.contextmanager
def http_env(timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """A :class:`rasterio.Env` with :func:`gdal_http_options` for reads of remote assets."""
    with rasterio.Env(**gdal_http_options(timeout_s)):
        yield


def set_process_defaults(timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Put :func:`gdal_http_options` in ``os.environ`` (unless set): for worker processes.

    GDAL reads its config options from the environment too, and local Dask workers inherit
    it, so ``ocm batch`` calls this before starting its cluster.
    """
    for key, value in gdal_http_options(timeout_s).items():
        os.environ.setdefault(key, value)


def _redact(url: str) -> str:
    """A URL without its query string (signatures are secrets and long)."""
    return url.split("?", 1)[0] + ("?..." if "?" in url else "")


#: GDAL's curl layer reports a failure only in words: ``"HTTP response code: 404"``, or
#: ``"CURL error: "`` and libcurl's message for the curl error code (several curl releases' wordings),
#: checked in this order (TLS last: its words are the loosest, and a host name may hold "ssl").
_GDAL_STATUS = re.compile(r"^HTTP response code: (\d{3})\b")
_CURL_ERROR = "CURL error: "
_CURL_MESSAGES: tuple[tuple[RequestFailureKind, tuple[str, ...]], ...] = (
    ("dns", ("could not resolve host", "couldn't resolve host", "could not resolve proxy")),
    ("refused", ("connection refused", "couldn't connect to server", "could not connect to server")),
    ("unreachable", ("network is unreachable", "no route to host")),
    ("timeout", ("timed out",)),
    ("closed", ("empty reply from server", "connection reset", "recv failure", "transfer closed",
                "connection died")),
    ("tls", ("ssl", "certificate", "schannel", "tls")),
)
#: Wrappers of urllib3/requests that say nothing to a user (removed before any detail is shown).
_INTERNALS = re.compile(
    r"\w*HTTPS?ConnectionPool\([^)]*\):\s*|Max retries exceeded with url:\s*\S*\s*|\(Caused by \w+\(|"
    r"<urllib3[^>]*>:?\s*|\bHTTPS?Connection\([^)]*\):?\s*|\w+Error\(\s*|['\"()]+|\[Errno -?\d+\]\s*"
)


def _host(url: str) -> tuple[str, str]:
    """``(host, host:port or host)`` of a URL; the text itself when it is no URL."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        return url, url
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.hostname, f"{parts.hostname}:{port}" if port else parts.hostname


def _detail(message: str) -> str:
    """The library's own words with its internals removed, on one line, cut at a word (never mid-word)."""
    text = re.sub(r"\s+([,.;:])", r"\1", one_line(_INTERNALS.sub(" ", message)))
    return one_line(text, limit=160).strip(" .:;,")


@dataclass(frozen=True, slots=True)
class Failure:
    """How a request failed, read from the errors ``requests``, urllib3, the OS and GDAL raised.

    Attributes:
        status: The HTTP status the server answered, if it answered one.
        kind: ``"status"`` with a status, else how the connection failed (``"other"``: unknown).
        detail: The most specific error's own words (``""`` with a status: the status says it).
    """

    status: int | None
    kind: RequestFailureKind
    detail: str = ""


def _chain(err: BaseException) -> list[BaseException]:
    """``err`` and what it wraps: causes, contexts, urllib3's ``reason`` and exceptions in ``args``, in order."""
    found: list[BaseException] = []
    todo = [err]
    while todo and len(found) < 24:
        current = todo.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        todo.extend(e for e in inner if isinstance(e, BaseException))
    return found


def _status_of(err: BaseException) -> int | None:
    """The HTTP status an error carries: a ``requests`` response, pystac-client's ``status_code``, GDAL's code."""
    response = getattr(err, "response", None)
    status = getattr(response, "status_code", None) if response is not None else getattr(err, "status_code", None)
    if isinstance(status, int) and status >= 400:
        return status
    if isinstance(err, CPLE_HttpResponseError):
        code = _GDAL_STATUS.match(err.errmsg)
        return int(code.group(1)) if code else None
    return None


def _kind_of(err: BaseException) -> RequestFailureKind | None:
    """How a connection failed, by the error's type (GDAL's curl errors: by libcurl's message)."""
    import http.client
    import ssl

    import urllib3.exceptions as u3

    if isinstance(err, CPLE_HttpResponseError) and err.errmsg.startswith(_CURL_ERROR):
        text = err.errmsg.removeprefix(_CURL_ERROR).lower()
        return next((kind for kind, phrases in _CURL_MESSAGES if any(p in text for p in phrases)), None)
    if isinstance(err, u3.NameResolutionError | socket.gaierror):
        return "dns"
    if isinstance(err, ConnectionRefusedError):
        return "refused"
    if isinstance(err, ssl.SSLError | u3.SSLError | requests.exceptions.SSLError):
        return "tls"
    if isinstance(err, OSError) and err.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "unreachable"
    if isinstance(err, ConnectionResetError | ConnectionAbortedError | BrokenPipeError | http.client.IncompleteRead
                  | u3.ProtocolError | requests.exceptions.ChunkedEncodingError):
        return "closed"
    if is_timeout(err):
        return "timeout"
    return None


def _words(err: BaseException) -> str:
    """An error's own words: an OS error's ``strerror``, GDAL's message after ``CURL error:``, else ``str``."""
    if isinstance(err, OSError) and err.strerror:
        return str(err.strerror)
    if isinstance(err, CPLE_HttpResponseError):
        return str(err.errmsg).removeprefix(_CURL_ERROR)
    return str(err)


def classify(err: BaseException) -> Failure:
    """How a request failed: the HTTP status, else the kind of connection failure, read from the error's chain.

    Python's errors are read by their types (``requests``/urllib3's, ``socket``'s, ``ssl``'s and
    the OS's); GDAL's curl layer raises one type for every failure and says what happened only
    in words, so its messages are read by the words libcurl uses for each curl error code.

    Args:
        err: The error raised (its causes and contexts are read too).

    Returns:
        The status, the kind (``"other"`` when nothing says) and the most specific error's words.
    """
    chain = _chain(err)
    detail = next((_words(e) for e in reversed(chain) if _words(e).strip()), "")
    status = next((code for code in map(_status_of, chain) if code is not None), None)
    if status is not None:
        return Failure(status, "status")
    kinds = [kind for kind in map(_kind_of, chain) if kind is not None]
    order: tuple[RequestFailureKind, ...] = ("dns", "refused", "tls", "unreachable", "closed", "timeout")
    kind = min(kinds, key=order.index) if kinds else "other"
    return Failure(None, kind, _detail(detail))


def request_error(cls: type[_E], url: str, *, status: int | None = None, kind: RequestFailureKind = "other",
                  timeout_s: float | None = None, detail: str = "") -> _E:
    """A :class:`CatalogError` or :class:`AssetReadError` for a failed request: what was asked, what happened.

    Args:
        cls: The error type to build.
        url: What was asked for (its query string, often a signature, is left out).
        status: The HTTP status the server answered (then ``kind`` is ``"status"``).
        kind: How the request failed (see :data:`~ocm_engine.errors.RequestFailureKind`).
        timeout_s: The time allowed, when known (said in a timeout's message).
        detail: The server's or library's words, when they add something (a status's body, an
            unknown failure's message).

    Returns:
        The error, with ``url``, ``status``, ``kind`` and ``timeout_s`` set (chain it when raising).
    """
    where = _redact(url)
    host, host_port = _host(where)
    if "://" in where:
        subject = f"{'Asset' if issubclass(cls, AssetReadError) else 'Catalog'} {where}"
    else:  # a description ("an asset of item X") where GDAL did not say which URL failed
        subject = where[:1].upper() + where[1:]
    fields: dict[str, Any] = {"url": where, "status": status, "timeout_s": timeout_s}
    said = f" ({detail})" if detail else ""
    if status is not None:
        phrase = next((s.phrase for s in HTTPStatus if s.value == status), "")
        answered = f"HTTP {status}{f' {phrase}' if phrase else ''}{said}"
        if status == 403:
            advice = Hints.same("The signature (SAS token) expired or is missing, or the bucket is private: search "
                                "again to get freshly signed hrefs (Planetary Computer signatures last about an hour).")
        elif status == 404:
            advice = Hints.same("The asset is not there (moved or removed from the catalog): pick another item, or "
                                "tell the catalog's maintainers." if issubclass(cls, AssetReadError) else
                                "Nothing is there: check the URL, the collection id and the item id.")
        elif status >= 500:
            advice = Hints.same("The server failed: try again later.")
        else:
            advice = Hints.same("Check the URL and the request (collection, place, dates).")
        return cls(subject, arrived=answered, expected="a 2xx answer", kind="status", hints=advice, **fields)
    arrived: dict[RequestFailureKind, tuple[str, str]] = {
        "dns": (f"no address for the host {host} (DNS lookup failed)",
                "Check the URL's spelling and that this machine is online."),
        "refused": (f"a refused connection: no server listens on {host_port}",
                    "Check the URL and port, and that the server is running."),
        "tls": (f"a failed secure connection to {host} (TLS/certificate error)",
                "Check the URL (https or http) and this machine's certificates."),
        "closed": (f"a connection {host} closed before answering", "Try again later."),
        "unreachable": (f"no route to {host} from this machine", "Check the network connection, proxy and firewall."),
        "timeout": (f"no answer from {host} {f'within {timeout_s:g} s' if timeout_s else 'in time'} (timeout)", ""),
        "other": (f"a failed request ({detail or 'no reason given'})", "Check the network and the URL."),
        "status": (f"an HTTP error{said}", "Check the URL."),
    }
    got, advice_text = arrived[kind]
    return cls(subject, arrived=got, expected="an answer from the server", kind=kind,
               hints=Hints.same(advice_text) if advice_text else None, **fields)


def error_from(cls: type[_E], err: BaseException, url: str, *, timeout_s: float | None = None) -> _E:
    """:func:`request_error` for a raised error, classified by :func:`classify` (chain it: ``raise ... from err``)."""
    failure = classify(err)
    return request_error(cls, url, status=failure.status, kind=failure.kind, timeout_s=timeout_s,
                         detail=failure.detail)


def asset_error(err: BaseException, url: str) -> AssetReadError:
    """An :class:`AssetReadError` for a failed read of ``url`` (chain it: ``raise ... from err``)."""
    return error_from(AssetReadError, err, url)


def fetch_json(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, session: requests.Session | None = None,
               method: str = "GET", payload: Mapping[str, Any] | None = None) -> Any:
    """GET (or POST) a JSON document with a timeout.

    Args:
        url: The document's URL.
        timeout_s: Seconds for the connection and for the answer.
        session: A session to reuse (default: a new one).
        method: ``"GET"`` or ``"POST"``.
        payload: JSON body of a POST.

    Returns:
        The parsed JSON.

    Raises:
        CatalogError: No answer in time, a network error, an HTTP error status, or malformed JSON.
    """
    client = session or requests.Session()
    try:
        response = client.request(method, url, json=payload, timeout=(timeout_s, timeout_s),
                                  headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    except requests.RequestException as err:
        raise error_from(CatalogError, err, url, timeout_s=timeout_s) from err
    if response.status_code >= 400:
        raise request_error(CatalogError, url, status=response.status_code, kind="status")
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError) as err:
        raise CatalogError(
            f"Catalog {_redact(url)}", url=_redact(url),
            arrived=f"a body that is not JSON ({one_line(err, limit=120)}), beginning "
                    f"{one_line(response.text, limit=80)!r}",
            expected="STAC JSON (a catalog, collection or item)",
            hints=Hints.same("Check that the URL is a STAC catalog, collection or item URL."),
        ) from err
