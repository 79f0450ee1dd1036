"""The checked HTTP layer: every request, redirect hop and range read passes the :class:`NetPolicy` first.

How the policy holds, request by request:

- :class:`CheckedAdapter` is a ``requests`` transport adapter. Before it opens a connection it
  asks :func:`ocm_engine.netpolicy.decide` about the URL (scheme, host, every address the host
  resolves to) and refuses with :class:`~ocm_engine.errors.PolicyError`. Under a hosted policy
  the connection is then **pinned** to the address that was checked: urllib3 connects to that
  IP, the ``Host`` header carries the name, and for https the TLS SNI and certificate check use
  the name (``server_hostname``/``assert_hostname``), so a second DNS answer cannot send the
  request elsewhere (DNS rebinding). Proxies from the environment are ignored in hosted mode.
- Redirects are followed by ``requests`` (at most :data:`MAX_REDIRECTS`), and every hop is a new
  ``send`` through the adapter, so a redirect to loopback is refused before it is requested.
- GDAL's ``/vsicurl/`` resolves names and follows redirects by itself, and GDAL 3.10 (rasterio's
  wheel) has no option to pin an address or turn redirects off. So under a hosted policy
  rasters are not opened with ``/vsicurl/``: :func:`open_raster` hands GDAL a Python file object
  (rasterio's ``opener``, a GDAL virtual file system backed by Python) whose reads are HTTP
  range requests made through this adapter. GDAL still reads only the header and the tiles it
  needs; every byte comes through the checked, pinned layer.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from ocm_engine.errors import PolicyError
from ocm_engine.netpolicy import Decision, NetPolicy, Resolver, decide, refused_again

MAX_REDIRECTS = 5


def is_timeout(err: BaseException) -> bool:
    """Whether ``err`` is a timeout, by its type: ``requests``', urllib3's or the socket's own.

    urllib3's ``NewConnectionError`` derives from its ``ConnectTimeoutError`` but is a failed
    connection, not a timeout. Used by the STAC client and the model hub's download.
    """
    import urllib3.exceptions as u3

    return isinstance(err, requests.Timeout | TimeoutError | u3.TimeoutError) and not isinstance(
        err, u3.NewConnectionError)

#: Bytes fetched per range request of a raster read through the checked layer.
RANGE_CHUNK_BYTES = 128 * 1024
#: Chunks a raster file object keeps in memory.
RANGE_CACHE_CHUNKS = 64


class CheckedAdapter(HTTPAdapter):
    """A ``requests`` adapter that checks each request with the policy and pins hosted connections.

    Args:
        policy: The policy.
        resolver: Name resolution used by the check (tests stub it).
        max_retries: Retries of failed connections (``HTTPAdapter``'s).
    """

    def __init__(self, policy: NetPolicy, resolver: Resolver | None = None, max_retries: int = 1) -> None:
        self.policy = policy
        self.resolver = resolver
        self._pins: dict[str, Decision] = {}
        self._local = threading.local()
        self._lock = threading.Lock()
        super().__init__(max_retries=max_retries)

    def decision(self, url: str) -> Decision:
        """The policy's decision for ``url`` (one per origin for the adapter's life: the pin stays put)."""
        parts = urlsplit(url)
        key = f"{parts.scheme.lower()}://{parts.netloc.rsplit('@', 1)[-1].lower()}"
        with self._lock:
            known = self._pins.get(key)
        if known is not None and known.allowed:
            return known
        found = decide(url, self.policy, resolver=self.resolver)
        if found.allowed and found.addresses:
            with self._lock:
                self._pins[key] = found
        return found

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        """Check ``request.url`` with the policy, then send it (pinned when hosted).

        Raises:
            PolicyError: The URL (or this redirect hop) is refused; nothing was sent.
        """
        url = request.url or ""
        found = self.decision(url)
        if not found.allowed:
            raise found.error()
        if self.policy.hosted:
            if found.scheme not in ("http", "https") or not found.addresses:
                raise PolicyError(found.subject, arrived="a target without a checked address",
                                  expected="an http(s) URL whose addresses were checked")
            netloc = urlsplit(url).netloc.rsplit("@", 1)[-1]
            request.headers["Host"] = netloc
            proxies = {}
        self._local.pin = found if self.policy.hosted else None
        try:
            return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        finally:
            self._local.pin = None

    def build_connection_pool_key_attributes(self, request: requests.PreparedRequest, verify: Any,
                                             cert: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The pool key of ``requests``, with the host replaced by the checked address when pinned."""
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        pin: Decision | None = getattr(self._local, "pin", None)
        if pin is not None:
            host_params["host"] = pin.addresses[0]
            host_params["port"] = pin.port
            if pin.scheme == "https":
                pool_kwargs["server_hostname"] = pin.host
                pool_kwargs["assert_hostname"] = pin.host
        return host_params, pool_kwargs


class CheckedSession(requests.Session):
    """A ``requests.Session`` whose every URL (any scheme) goes through one :class:`CheckedAdapter`."""

    def __init__(self, policy: NetPolicy, resolver: Resolver | None = None, max_retries: int = 1) -> None:
        super().__init__()
        self.policy = policy
        self.adapter = CheckedAdapter(policy, resolver, max_retries)
        self.max_redirects = MAX_REDIRECTS
        if policy.hosted:
            self.trust_env = False  # no proxies or .netrc from the server's environment
        self.mount("http://", self.adapter)
        self.mount("https://", self.adapter)

    def get_adapter(self, url: str) -> requests.adapters.BaseAdapter:
        """The checked adapter for every URL (a ``file:`` or ``ftp:`` redirect is refused by it)."""
        return self.adapter


def checked_session(policy: NetPolicy | None = None, *, resolver: Resolver | None = None,
                    max_retries: int = 1) -> requests.Session:
    """A session for ``policy`` (default: permissive, a plain session with retries)."""
    if policy is None or not policy.hosted:
        session = requests.Session()
        adapter = HTTPAdapter(max_retries=max_retries)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session
    return CheckedSession(policy, resolver, max_retries)


def get_limited(session: requests.Session, url: str, *, max_bytes: int, timeout_s: float,
                headers: dict[str, str] | None = None) -> bytes:
    """GET ``url`` and return its body, refusing bodies over ``max_bytes``.

    Raises:
        PolicyError: The URL or a redirect hop is refused, or the body is too large.
        requests.RequestException: Network errors and HTTP error statuses.
    """
    with session.get(url, stream=True, timeout=(timeout_s, timeout_s), headers=headers) as response:
        response.raise_for_status()
        declared = int(response.headers.get("Content-Length") or 0)
        subject, limit = f"Response of {url.split('?', 1)[0]}", f"at most {max_bytes:,} bytes"
        if declared > max_bytes:
            raise PolicyError(subject, arrived=f"a declared {declared:,} bytes", expected=limit)
        body = bytearray()
        for chunk in response.iter_content(64 * 1024):
            body.extend(chunk)
            if len(body) > max_bytes:
                raise PolicyError(subject, arrived=f"more than {max_bytes:,} bytes", expected=limit)
        return bytes(body)


class RangeFile(io.RawIOBase):
    """A read-only, seekable file over HTTP range requests made through a (checked) session.

    Reads come in :data:`RANGE_CHUNK_BYTES` chunks, the last :data:`RANGE_CACHE_CHUNKS` kept.

    Args:
        url: The file's URL.
        session: The session (a :class:`CheckedSession` under a hosted policy).
        timeout_s: Seconds per request.
        on_refusal: Called with a policy refusal met by any request (before it is raised).
        on_failure: Called with a failed request's error (before an ``OSError`` is raised from it).

    Raises:
        PolicyError: The URL is refused.
        OSError: The size cannot be learned (HTTP error, network).
    """

    def __init__(self, url: str, session: requests.Session, timeout_s: float,
                 on_refusal: Callable[[PolicyError], None] | None = None,
                 on_failure: Callable[[requests.RequestException], None] | None = None) -> None:
        super().__init__()
        self.url = url
        self._on_refusal = on_refusal
        self._on_failure = on_failure
        self._session = session
        self._timeout = (timeout_s, timeout_s)
        self._pos = 0
        self._chunks: OrderedDict[int, bytes] = OrderedDict()
        self.size = self._learn_size()

    def _get(self, start: int, stop: int) -> requests.Response:
        try:
            response = self._session.get(self.url, headers={"Range": f"bytes={start}-{stop - 1}"},
                                         timeout=self._timeout)
            response.raise_for_status()
        except PolicyError as err:
            if self._on_refusal is not None:
                self._on_refusal(err)
            raise
        except requests.RequestException as err:  # GDAL's callbacks expect OSError
            if self._on_failure is not None:
                self._on_failure(err)
            raise OSError(f"{self.url.split('?', 1)[0]}: {err}") from err
        return response

    def _learn_size(self) -> int:
        response = self._get(0, RANGE_CHUNK_BYTES)
        content_range = response.headers.get("Content-Range", "")
        if response.status_code == 206 and "/" in content_range and not content_range.endswith("*"):
            size = int(content_range.rsplit("/", 1)[1])
        elif response.status_code == 200:
            size = len(response.content)  # no range support: the whole (small) body came
        else:
            raise OSError(f"{self.url.split('?', 1)[0]} answered {response.status_code} without a size")
        self._chunks[0] = response.content[:RANGE_CHUNK_BYTES]
        if response.status_code == 200:
            for index in range(0, size, RANGE_CHUNK_BYTES):
                self._chunks[index // RANGE_CHUNK_BYTES] = response.content[index:index + RANGE_CHUNK_BYTES]
        return size

    def _chunk(self, index: int) -> bytes:
        found = self._chunks.get(index)
        if found is None:
            start = index * RANGE_CHUNK_BYTES
            found = self._get(start, min(self.size, start + RANGE_CHUNK_BYTES)).content
            self._chunks[index] = found
            while len(self._chunks) > RANGE_CACHE_CHUNKS:
                self._chunks.popitem(last=False)
        else:
            self._chunks.move_to_end(index)
        return found

    def readable(self) -> bool:
        """Always readable."""
        return True

    def seekable(self) -> bool:
        """Always seekable."""
        return True

    def tell(self) -> int:
        """The current position."""
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position (``whence`` as in :meth:`io.IOBase.seek`)."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes (all that is left when negative)."""
        stop = self.size if size is None or size < 0 else min(self.size, self._pos + size)
        out = bytearray()
        while self._pos < stop:
            index, offset = divmod(self._pos, RANGE_CHUNK_BYTES)
            piece = self._chunk(index)[offset:offset + stop - self._pos]
            if not piece:
                break
            out.extend(piece)
            self._pos += len(piece)
        return bytes(out)

    def readinto(self, buffer: Any) -> int:
        """Read into a writable buffer; the number of bytes read."""
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


class RangeOpener:
    """A rasterio ``opener`` for one URL: ``opener(url, mode)`` -> a :class:`RangeFile` through ``session``.

    Only the URL it was made for opens (GDAL's probes for sidecar files get "not found"), and a
    policy refusal met while GDAL reads is kept in :attr:`refusal`, and a failed request (its
    HTTP status, timeout or connection error, as ``requests`` raised it) in :attr:`failure`,
    since GDAL turns both into a generic error.

    Args:
        url: The raster's URL.
        session: The (checked) session.
        timeout_s: Seconds per request.
    """

    def __init__(self, url: str, session: requests.Session, timeout_s: float) -> None:
        self.url = url
        self.session = session
        self.timeout_s = timeout_s
        self.refusal: PolicyError | None = None
        self.failure: requests.RequestException | None = None

    def __call__(self, url: str, mode: str = "rb", **_: Any) -> RangeFile:
        """Open ``url`` for reading.

        Raises:
            FileNotFoundError: Another path (a sidecar probe) or a write mode.
            PolicyError: The URL or a redirect hop is refused.
        """
        if url != self.url or any(c in mode for c in "wa+"):
            raise FileNotFoundError(f"Not served through the checked layer: {url.split('?', 1)[0]}")
        return RangeFile(url, self.session, self.timeout_s, on_refusal=self._refused,
                         on_failure=self._failed)

    def _refused(self, err: PolicyError) -> None:
        self.refusal = err

    def _failed(self, err: requests.RequestException) -> None:
        self.failure = err

    def reraise(self, err: Exception) -> None:
        """Raise what GDAL hid behind ``err``: the policy refusal, or the failed request itself.

        Raises:
            PolicyError: A refusal was met while GDAL read.
            OSError: A request failed; raised from the ``requests`` error (its type and response
                tell the status, timeout or connection failure), with ``err`` as its context.
        """
        if self.refusal is not None:
            raise refused_again(self.refusal) from err
        if self.failure is not None:
            raise OSError(f"{self.url.split('?', 1)[0]}: a range request failed") from self.failure


__all__ = ["MAX_REDIRECTS", "CheckedAdapter", "CheckedSession", "RangeFile", "RangeOpener", "checked_session",
           "get_limited"]
