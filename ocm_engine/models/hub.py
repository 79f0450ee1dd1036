"""Fetch one file from a Hugging Face-style model hub: resumable, verified, bounded in time.

Why not ``huggingface_hub.hf_hub_download``? It needs a metadata round trip (``HEAD`` with the
hub's ``X-Repo-Commit``/``ETag`` headers) before the transfer, keeps its partial files in its own
``.cache`` layout, reports progress only through its own tqdm bars, and in recent releases may
switch to the Xet transfer protocol, which some firewalls stall at 0 % (the reference package's
users are told to set ``HF_HUB_DISABLE_XET_TRANSPORT=1``). This module is one plain HTTP ``GET``
per file with the hub's public layout ``{endpoint}/{repo}/resolve/{revision}/{filename}``, so:

* the partial file is ``<name>.incomplete`` beside the target (a suffix no loader accepts) and
  becomes ``<name>`` only after its size and SHA-256 match (``os.replace``);
* an interrupted transfer resumes with an HTTP ``Range`` request;
* progress is a plain callback (tqdm in the CLI, a progress element in the app);
* a transfer that receives nothing for ``stall_timeout_s`` ends with a clear error;
* the hub's own variables are honoured: ``HF_ENDPOINT``, ``HF_HUB_OFFLINE``, ``HF_TOKEN`` (sent
  only to the hub), and the usual proxy variables (``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``,
  through ``requests``). No Xet transport is involved.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ocm_engine.errors import Hints, WeightsDownloadError, WeightsOfflineError

DEFAULT_ENDPOINT: Final = "https://huggingface.co"
PARTIAL_SUFFIX: Final = ".incomplete"
CHUNK_BYTES: Final = 1 << 16
DEFAULT_STALL_TIMEOUT_S: Final = 30.0
_TRUE: Final = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True, slots=True)
class HubFile:
    """One file of a hub repository, pinned.

    Attributes:
        repo_id: ``owner/name`` of the model repository.
        revision: The commit the file is pinned to.
        filename: The file's name in the repository (and on disk).
        size_bytes: Expected size.
        sha256: Expected SHA-256 (hex).
    """

    repo_id: str
    revision: str
    filename: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """Where a download stands (passed to progress callbacks).

    Attributes:
        filename: The file being fetched.
        done_bytes: Bytes of this file on disk so far (resumed bytes included).
        total_bytes: The file's expected size.
        file_index: 0-based position of this file in the set being fetched.
        file_count: How many files the set has.
    """

    filename: str
    done_bytes: int
    total_bytes: int
    file_index: int = 0
    file_count: int = 1


ProgressFn = Callable[[DownloadProgress], None]


def hub_endpoint() -> str:
    """The hub's base URL: ``$HF_ENDPOINT`` or ``https://huggingface.co``."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_offline() -> bool:
    """Whether ``$HF_HUB_OFFLINE`` asks for no network access."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def file_url(item: HubFile) -> str:
    """The hub's download URL of a pinned file."""
    return f"{hub_endpoint()}/{item.repo_id}/resolve/{item.revision}/{item.filename}"


def partial_path(target: Path) -> Path:
    """Where a download of ``target`` is kept until it is complete and verified."""
    return target.with_name(target.name + PARTIAL_SUFFIX)


def download_file(
    item: HubFile,
    target: Path,
    *,
    progress: ProgressFn | None = None,
    stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S,
    file_index: int = 0,
    file_count: int = 1,
    manual_hint: str = "",
) -> Path:
    """Download ``item`` to ``target``, resuming a partial download, and verify it.

    Args:
        item: The pinned file.
        target: Final path; the transfer goes to ``<target>.incomplete`` first.
        progress: Called after every chunk (and once at the start).
        stall_timeout_s: Give up when connecting, or any read, takes longer than this.
        file_index: This file's position in a set (for progress).
        file_count: The set's size (for progress).
        manual_hint: Appended to the errors' advice: what to copy where by hand.

    Returns:
        ``target``, complete and verified.

    Raises:
        WeightsOfflineError: ``HF_HUB_OFFLINE`` is set.
        WeightsDownloadError: Unreachable hub, HTTP error, stalled transfer, or a file whose
            size or SHA-256 differs from the pin (the partial file is then deleted).
    """
    import requests

    url = file_url(item)
    if hub_offline():
        raise WeightsOfflineError(
            f"Download of {item.filename} from {hub_endpoint()}", arrived="HF_HUB_OFFLINE set",
            expected="network access to the hub", hints=_advice("Unset HF_HUB_OFFLINE to download.", manual_hint),
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(target)
    digest = hashlib.sha256()
    done = _resume_state(partial, item, digest)
    report = _reporter(progress, item, file_index, file_count)
    report(done)
    if done < item.size_bytes:
        headers = {"Range": f"bytes={done}-"} if done else {}
        token = os.environ.get("HF_TOKEN")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            with requests.get(url, headers=headers, stream=True, allow_redirects=True,
                              timeout=(stall_timeout_s, stall_timeout_s)) as response:
                if response.status_code == 416 and done:  # the range starts past the end: start again
                    partial.unlink(missing_ok=True)
                    return download_file(item, target, progress=progress, stall_timeout_s=stall_timeout_s,
                                         file_index=file_index, file_count=file_count, manual_hint=manual_hint)
                if response.status_code >= 400:
                    raise WeightsDownloadError(
                        f"Download of {url}", arrived=f"HTTP {response.status_code}",
                        expected=f"the file {item.filename} of {item.repo_id} at revision {item.revision[:12]}",
                        hints=_advice("Check HF_ENDPOINT, or try again later.", manual_hint),
                    )
                if done and response.status_code != 206:  # the server ignored the range
                    done, digest = 0, hashlib.sha256()
                mode = "ab" if done else "wb"
                with partial.open(mode) as handle:
                    for chunk in _chunks(response):
                        handle.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if done > item.size_bytes:
                            break  # longer than the pinned file: rejected below
                        report(done)
        except requests.exceptions.Timeout as err:
            raise WeightsDownloadError(
                f"Download of {item.filename} from {hub_endpoint()}",
                arrived=f"a stalled transfer: nothing for {stall_timeout_s:g} s ({done:,} of {item.size_bytes:,} "
                        "bytes so far, kept for a resume)",
                expected="data within the stall timeout",
                hints=_advice("A firewall or proxy may block the hub; set HTTPS_PROXY, or try again.", manual_hint),
            ) from err
        except requests.exceptions.RequestException as err:
            raise WeightsDownloadError(
                f"Download of {item.filename} from {hub_endpoint()}",
                arrived=f"a failed request ({type(err).__name__}; {done:,} of {item.size_bytes:,} bytes so far, "
                        "kept for a resume)",
                expected="an answer from the hub",
                hints=_advice("Check the network (HF_ENDPOINT, HTTPS_PROXY), or try again.", manual_hint),
            ) from err
    _finish(partial, target, item, done, digest.hexdigest(), manual_hint)
    return target


def _advice(text: str, manual_hint: str) -> Hints | None:
    """The advice of a failed download, the caller's manual route appended (the same for every front end)."""
    joined = " ".join(part for part in (text, manual_hint) if part)
    return Hints.same(joined) if joined else None


def _chunks(response: Any) -> Iterator[bytes]:
    """The body as it arrives (``read1``), so the bytes received before a dropped connection are kept."""
    raw = response.raw
    while True:
        try:
            chunk = raw.read1(CHUNK_BYTES)
        except Exception as err:  # urllib3's ProtocolError/ReadTimeoutError: as requests would raise them
            import requests

            from ocm_engine.checked_http import is_timeout

            if is_timeout(err):  # by type: urllib3's read timeouts, or the socket's own
                raise requests.exceptions.Timeout(str(err)) from err
            raise requests.exceptions.ConnectionError(str(err)) from err
        if not chunk:
            return
        yield chunk


def _resume_state(partial: Path, item: HubFile, digest: hashlib._Hash) -> int:
    """Feed an existing partial file into ``digest``; returns its size (0 if none or too big)."""
    if not partial.is_file():
        return 0
    size = partial.stat().st_size
    if size > item.size_bytes:
        partial.unlink()
        return 0
    with partial.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return size


def _reporter(progress: ProgressFn | None, item: HubFile, index: int, count: int) -> Callable[[int], None]:
    def report(done: int) -> None:
        if progress is not None:
            progress(DownloadProgress(item.filename, done, item.size_bytes, index, count))

    return report


def _finish(partial: Path, target: Path, item: HubFile, done: int, actual: str, manual_hint: str) -> None:
    """Move a complete, verified partial file into place; delete a wrong one."""
    served = f"File {item.filename} served by {hub_endpoint()} (revision {item.revision[:12]})"
    another = _advice("The endpoint serves another file; check HF_ENDPOINT.", manual_hint)
    if done > item.size_bytes:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise WeightsDownloadError(served, arrived=f"more than {item.size_bytes:,} bytes (not kept)",
                                   expected=f"the pinned {item.size_bytes:,} bytes", hints=another)
    if done < item.size_bytes:
        raise WeightsDownloadError(
            served, arrived=f"a transfer that ended early at {done:,} bytes (kept for a resume)",
            expected=f"{item.size_bytes:,} bytes", hints=_advice("Try again.", manual_hint))
    if actual != item.sha256.lower():
        with contextlib.suppress(OSError):
            partial.unlink()
        raise WeightsDownloadError(served, arrived=f"SHA-256 {actual[:12]}... (not kept)",
                                   expected=f"the pinned SHA-256 {item.sha256[:12]}...", hints=another)
    os.replace(partial, target)
