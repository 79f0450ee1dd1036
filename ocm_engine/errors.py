"""Error types of the engine.

Every error derives from :class:`OcmError` and from the builtin it is closest to,
so callers can catch either (``except OcmError`` or ``except ValueError``).
Messages say what arrived, what was expected and how to fix it.
"""

from __future__ import annotations


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


class OutputExistsError(OcmError, FileExistsError):
    """An output file exists and overwriting was not asked for."""


class SceneListError(OcmError, ValueError):
    """A scene list (paths, glob, CSV or STAC items) that cannot be turned into scenes."""


class BatchError(OcmError, RuntimeError):
    """A batch could not run at all: no Dask, or no reachable cluster."""


class DeviceMemoryError(OcmError, MemoryError):
    """The device ran out of memory even with one patch per forward pass."""


class OcmWarning(UserWarning):
    """Base category of the engine's warnings."""


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
