"""Error types of the engine.

Every error derives from :class:`OcmError` and from the builtin it is closest to,
so callers can catch either (``except OcmError`` or ``except ValueError``).
Messages say what arrived, what was expected and how to fix it.
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from collections.abc import Iterator, Mapping, Sequence


class OcmError(Exception):
    """Root of every error raised on purpose by ``ocm_engine``."""


class UnknownSensorError(OcmError, KeyError):
    """A sensor preset name that is not in the registry."""

    def __str__(self) -> str:
        """Return the message without KeyError's quoting."""
        return str(self.args[0]) if self.args else ""


class BandMismatchError(OcmError, ValueError):
    """The image does not have the bands the mapping asks for."""


class InvalidImageError(OcmError, ValueError):
    """The image array is unusable: wrong rank, dtype, size or content."""


class NoValidDataError(InvalidImageError):
    """Every pixel of the image is nodata."""


class ImageTooSmallError(InvalidImageError):
    """The image is smaller than the smallest patch the models accept."""


class ResolutionError(OcmError, ValueError):
    """The requested inference resolution is impossible or unsupported."""


class SceneReadError(OcmError, OSError):
    """A file could not be opened or read as a raster."""


class ModelLoadError(OcmError, RuntimeError):
    """Model weights could not be found, downloaded or loaded."""


class BackendError(ModelLoadError):
    """An inference backend was asked for that is not installed or cannot run these members here."""


class WeightsDownloadError(ModelLoadError, ConnectionError):
    """Weights could not be fetched from the model hub: unreachable, HTTP error, stalled, wrong file."""


class WeightsOfflineError(WeightsDownloadError):
    """A download was needed but ``HF_HUB_OFFLINE`` forbids network access."""


class WeightsCorruptError(ModelLoadError, ValueError):
    """A weights file whose size or SHA-256 differs from its pin: corrupt, truncated or another version."""


class OutputExistsError(OcmError, FileExistsError):
    """An output file exists and overwriting was not asked for."""


class SceneListError(OcmError, ValueError):
    """A scene list (paths, glob, CSV or STAC items) that cannot be turned into scenes."""


class BatchError(OcmError, RuntimeError):
    """A batch could not run at all: no Dask, or no reachable cluster."""


class DeviceMemoryError(OcmError, MemoryError):
    """The device ran out of memory even with one patch per forward pass."""


class CatalogError(OcmError, OSError):
    """A STAC catalog or API that does not answer, answers an HTTP error or malformed JSON."""


class StacBandError(BandMismatchError):
    """A STAC item whose assets lack Red, Green or NIR; the message says which, and what it found.

    Attributes:
        item_id: The item's id.
        missing: Roles not found (``"red"``, ``"green"``, ``"nir"``).
        found: Asset key -> common band names of every raster asset the item has.
    """

    def __init__(self, item_id: str, missing: Sequence[str], found: Mapping[str, Sequence[str]]) -> None:
        self.item_id = item_id
        self.missing = tuple(missing)
        self.found = {key: tuple(names) for key, names in found.items()}
        listed = ", ".join(f"{key} ({'/'.join(names) or 'no common name'})" for key, names in self.found.items())
        super().__init__(
            f"STAC item {item_id!r} has no asset for {', '.join(self.missing)} (looked for eo:bands / bands "
            f"common names red, green, nir or nir08, and the collection's preset asset keys). Found: "
            f"{listed or 'no raster assets'}. Name the assets yourself (CLI: --stac-assets RED,GREEN,NIR; "
            "Python: assets=(...)), or pick a collection with Red, Green and NIR bands."
        )


class WindowError(OcmError, ValueError):
    """A requested window (bbox) that misses the item, or is too large to read."""


class AssetReadError(SceneReadError):
    """A STAC asset (remote raster) that cannot be opened or read: 404, 403, timeout, network."""


class PolicyError(OcmError, PermissionError):
    """A URL, path or upload refused by the server's network and file policy (before any request or open)."""


class LabelSchemeError(OcmError, ValueError):
    """Reference labels scored without a class scheme whose values are not the model's four class codes."""

    def __init__(self, found: Sequence[int], schemes: Sequence[str]) -> None:
        self.found = tuple(int(v) for v in found)
        self.schemes = tuple(schemes)
        super().__init__(
            f"The reference labels hold the values {list(self.found)}, which are not the model's class codes "
            "(0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow). Name the labels' class scheme so they are "
            f"scored in it: scheme= one of {', '.join(self.schemes)} (ocm evaluate: --scheme); leave pixels "
            "without data out with valid=."
        )


class UnknownLabelSchemeError(OcmError, KeyError):
    """A label scheme name that is not in the registry."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = tuple(known)
        super().__init__(f"Unknown label scheme {name!r}; known schemes: {', '.join(self.known)}.")

    def __str__(self) -> str:
        return str(self.args[0])


class OcmWarning(UserWarning):
    """Base category of the engine's warnings."""


class LabelSchemeWarning(OcmWarning):
    """Reference labels compared without a class scheme that look like a 2-class label set."""


class BatchSizeWarning(OcmWarning):
    """The device ran out of memory and the batch size was halved."""


class MissingCrsWarning(OcmWarning):
    """The input has no coordinate reference system; outputs have none either."""


class MissingNirWarning(OcmWarning):
    """No NIR band was mapped; zeros are used in its place."""


class ResolutionWarning(OcmWarning):
    """The chosen resolution is outside the validated 10-50 m range."""


class SmallPatchWarning(OcmWarning):
    """Patches are small; accuracy needs about 96 px of context."""


class NotCogWarning(OcmWarning):
    """A remote asset is not a cloud-optimised GeoTIFF: windowed reads work but fetch much more."""


_COLLECTOR: contextvars.ContextVar[list[OcmWarning] | None] = contextvars.ContextVar("ocm_warnings", default=None)


def emit(message: OcmWarning | str, category: type[OcmWarning] | None = None, stacklevel: int = 1) -> None:
    """Warn like :func:`warnings.warn`, or hand the warning to the innermost :func:`collect_warnings` of this context.

    ``warnings.catch_warnings`` swaps process-wide state, so in a server that reads scenes for
    several sessions in threads at once one session's warnings (with its file names) could be
    recorded by another's. A collector lives in a context variable instead: each thread (each
    Streamlit session's script run) sees only its own.

    Args:
        message: The warning (an :class:`OcmWarning`), or its text with ``category``.
        category: The warning's class when ``message`` is text.
        stacklevel: As for :func:`warnings.warn`, counted from the caller of this function.
    """
    warning = message if isinstance(message, OcmWarning) else (category or OcmWarning)(message)
    sink = _COLLECTOR.get()
    if sink is not None:
        sink.append(warning)
        return
    warnings.warn(warning, stacklevel=stacklevel + 1)


@contextlib.contextmanager
def collect_warnings() -> Iterator[list[OcmWarning]]:
    """Collect the engine's warnings emitted in this context (thread) instead of warning.

    Yields:
        The list the warnings are appended to, in order.
    """
    sink: list[OcmWarning] = []
    token = _COLLECTOR.set(sink)
    try:
        yield sink
    finally:
        _COLLECTOR.reset(token)


def one_line(err: BaseException | str, limit: int | None = None) -> str:
    """An error's message on one line (wrapped library messages included), for CLI and log lines.

    Args:
        err: The error (or a message).
        limit: Longest result in characters; a longer text is cut at the last word that fits
            and ends in ``…`` (never in the middle of a word). ``None``: no limit.
    """
    text = " ".join(str(err).split())
    return text if limit is None else shorten(text, limit)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with ``…`` when cut."""
    if len(text) <= limit:
        return text
    cut = text[: max(1, limit - 1)]
    head = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return head.rstrip(" ,;:(") + "…"
