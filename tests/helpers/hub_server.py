"""A loopback stand-in for the model hub's file downloads: ``/{repo}/resolve/{revision}/{filename}``.

Serves bytes given by the test, with ``Range`` support (``206``), and misbehaves on purpose:
``cut_after`` closes the connection after that many body bytes (an interrupted transfer),
``stall_after`` sends that many bytes then goes silent (a firewall), ``status`` answers an
HTTP error. Every request's path and ``Range`` header are recorded.

Usage::

    with HubServer("NickWright/OmniCloudMask", "c9a4...") as hub:
        hub.add("file.safetensors", data)
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class HubFileRoute:
    """What one file's URL answers."""

    data: bytes
    status: int = 200
    cut_after: int | None = None  # close the connection after this many body bytes (once)
    stall_after: int | None = None  # send this many body bytes, then send nothing
    stall_s: float = 30.0
    delay_per_chunk_s: float = 0.0  # slow transfer (so a browser test can see the progress)


class HubServer:
    """A threaded HTTP server on an ephemeral 127.0.0.1 port answering hub file URLs."""

    def __init__(self, repo_id: str, revision: str) -> None:
        self.repo_id = repo_id
        self.revision = revision
        self.files: dict[str, HubFileRoute] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("Range")))
                prefix = f"/{server.repo_id}/resolve/{server.revision}/"
                route = server.files.get(self.path.removeprefix(prefix)) if self.path.startswith(prefix) else None
                if route is None or route.status >= 400:
                    body = b"Entry not found"
                    self.send_response(route.status if route else 404)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                start = 0
                ranged = self.headers.get("Range", "")
                if ranged.startswith("bytes=") and ranged.endswith("-"):
                    start = int(ranged[6:-1])
                    if start >= len(route.data):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                body = route.data[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(route.data) - 1}/{len(route.data)}")
                self.end_headers()
                limit = route.stall_after if route.stall_after is not None else route.cut_after
                sent = 0
                step = 4096
                while sent < len(body):
                    if limit is not None and sent >= limit:
                        if route.stall_after is not None:
                            self.wfile.flush()
                            server._release.wait(route.stall_s)
                        else:
                            route.cut_after = None  # only the first transfer is cut
                        self.close_connection = True
                        return
                    end = min(len(body), sent + step, limit if limit is not None else len(body))
                    self.wfile.write(body[sent:end])
                    sent = end
                    if route.delay_per_chunk_s:
                        time.sleep(route.delay_per_chunk_s)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def endpoint(self) -> str:
        """The value for ``HF_ENDPOINT``."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, filename: str, data: bytes, **behaviour: Any) -> HubFileRoute:
        """Serve ``data`` as ``filename`` of the repository at the revision."""
        route = HubFileRoute(data, **behaviour)
        self.files[filename] = route
        return route

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def tiny_official_specs(payloads: list[bytes]) -> dict[str, Any]:
    """Official weight specs pinned to ``payloads`` (tiny ``test_resnet`` members), official file names.

    Returns:
        A replacement for :data:`ocm_engine.models.weights.OFFICIAL_WEIGHTS`: the official file
        names, each pinned to the size and SHA-256 of its payload, loaded as ``test_resnet``.
    """
    import hashlib

    from ocm_engine.models.weights import OFFICIAL_WEIGHTS, WeightSpec

    specs = {}
    for real, data in zip(OFFICIAL_WEIGHTS.values(), payloads, strict=True):
        specs[real.key] = WeightSpec(key=real.key, arch="test_resnet", file=real.file,
                                     sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data),
                                     version=real.version, meta=real.meta)
    return specs
