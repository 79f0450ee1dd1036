"""HTTP for STAC: timeouts everywhere, GDAL's ``/vsicurl/`` settings, and errors that say what to do.

Two clients talk to the network: ``requests`` (through pystac-client) for JSON, and GDAL's
curl layer for the rasters. Both get short timeouts and few retries, so a catalog that
does not answer, an expired signature (403) or a missing asset (404) becomes an
:class:`~ocm_engine.errors.OcmError` within seconds instead of a hang.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import rasterio
import requests

from ocm_engine.errors import AssetReadError, CatalogError, RequestFailureKind, one_line

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


#: Phrases of requests/urllib3, GDAL's curl and the OS, by what happened (checked in this order).
_FAILURE_PHRASES: tuple[tuple[RequestFailureKind, tuple[str, ...]], ...] = (
    ("dns", ("nameresolutionerror", "failed to resolve", "could not resolve host", "name or service not known",
             "temporary failure in name resolution", "nodename nor servname", "getaddrinfo failed",
             "no address associated with hostname")),
    ("refused", ("connection refused", "errno 111", "couldn't connect to server")),
    ("tls", ("sslerror", "ssl:", "ssl error", "ssl routines", "certificate", "tlsv")),
    ("closed", ("connection reset", "remotedisconnected", "connection aborted", "remote end closed",
                "empty reply from server", "connection broken")),
    ("unreachable", ("network is unreachable", "no route to host", "errno 101", "errno 113")),
    ("timeout", ("timed out", "timeout")),
)
_URLS = re.compile(r"\S+://\S+|host='[^']*'|url: \S+")
#: Wrappers of urllib3/requests that say nothing to a user (removed before any detail is shown).
_INTERNALS = re.compile(
    r"\w*HTTPS?ConnectionPool\([^)]*\):\s*|Max retries exceeded with url:\s*\S*\s*|\(Caused by \w+\(|"
    r"<urllib3[^>]*>:?\s*|\bHTTPS?Connection\([^)]*\):?\s*|\w+Error\(\s*|['\"()]+"
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


def request_error(cls: type[_E], message: str, url: str, *, timeout_s: float | None = None) -> _E:
    """A :class:`CatalogError` or :class:`AssetReadError` for a failed request: what was asked, what happened.

    The library's words are the only description GDAL's curl layer gives, so they are
    classified here, once (HTTP status, DNS failure, refused connection, TLS, closed
    connection, unreachable network, timeout), into the error's ``status`` and ``kind``
    fields; the raw text is never shown raw or cut in the middle of a word.

    Args:
        cls: The error type to build.
        message: The failure as the library worded it (requests/urllib3, pystac-client, GDAL's curl).
        url: What was asked for (its query string, often a signature, is left out).
        timeout_s: The time allowed, when known (said in a timeout's message).

    Returns:
        The error, with ``url``, ``status``, ``kind`` and ``timeout_s`` set (chain it when raising).
    """
    # classify the library's words, not the URL inside them (an item id may hold "404" or "timeout")
    text = _URLS.sub(" ", message).lower()
    code = re.search(r"(?:http (?:response )?code|status(?: code)?)[:= ]+(\d{3})", text)
    status = int(code.group(1)) if code else None
    where = _redact(url)
    host, host_port = _host(where)
    if status is None and "403" in text and "forbidden" in text:
        status = 403
    elif status is None and "404" in text:
        status = 404
    fields: dict[str, Any] = {"url": where, "status": status, "timeout_s": timeout_s}
    if status == 403:
        return cls(f"{where} answered 403 Forbidden: the signature (SAS token) expired or is missing, or the "
                   "bucket is private. Search again to get freshly signed hrefs (Planetary Computer "
                   "signatures last about an hour).", kind="status", **fields)
    if status == 404:
        return cls(f"{where} answered 404 Not Found: the asset is not there (moved or removed from the "
                   "catalog). Pick another item, or tell the catalog's maintainers.", kind="status", **fields)
    if status is not None and status >= 500:
        return cls(f"{where} answered {status}: the server failed. Try again later.", kind="status", **fields)
    if status is not None:
        return cls(f"{where} answered HTTP {status}. Check the URL and the request (collection, bbox, dates).",
                   kind="status", **fields)
    kind = next((kind for kind, phrases in _FAILURE_PHRASES if any(p in text for p in phrases)), "other")
    asked = f"Asked for {where}: "
    problems: dict[RequestFailureKind, str] = {
        "dns": (f"{asked}the host name {host} could not be found (DNS lookup failed). Check the URL's "
                "spelling and that this machine is online."),
        "refused": (f"{asked}could not reach {host_port}: it refused the connection (no server listens "
                    "there). Check the URL and port, and that the server is running."),
        "tls": (f"{asked}the secure connection to {host} failed (TLS/certificate error). Check the URL "
                "(https or http) and this machine's certificates."),
        "closed": f"{asked}{host} closed the connection before answering. Try again later.",
        "unreachable": (f"{asked}{host} cannot be reached from this machine (no route to it). Check the "
                        "network connection, proxy and firewall."),
        "timeout": f"{asked}{host} did not answer {f'within {timeout_s:g} s' if timeout_s else 'in time'} (timeout).",
    }
    if kind in problems:
        return cls(problems[kind], kind=kind, **fields)
    detail = _detail(message)
    return cls(f"{asked}the request failed ({detail or 'no reason given'}). Check the network and the URL.",
               kind="other", **fields)


def asset_error(err: BaseException, url: str) -> AssetReadError:
    """An :class:`AssetReadError` for a failed read of ``url`` (chain it: ``raise ... from err``)."""
    messages = [str(err)]
    cause = err.__cause__ or err.__context__
    while cause is not None and len(messages) < 8:
        messages.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    return request_error(AssetReadError, " | ".join(m for m in messages if m), url)


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
    except requests.Timeout as err:
        raise request_error(CatalogError, f"timed out: {err}", url, timeout_s=timeout_s) from err
    except requests.RequestException as err:
        raise request_error(CatalogError, str(err), url, timeout_s=timeout_s) from err
    if response.status_code >= 400:
        raise request_error(CatalogError, f"HTTP code {response.status_code}", url)
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError) as err:
        raise CatalogError(
            f"{_redact(url)} did not return valid JSON ({one_line(err, limit=120)}); it begins "
            f"{one_line(response.text, limit=80)!r}. Is it a STAC catalog, collection or item URL?"
        ) from err
