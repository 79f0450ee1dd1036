"""Error types of the engine.

Every error derives from :class:`OcmError` and from the builtin it is closest to,
so callers can catch either (``except OcmError`` or ``except ValueError``).

Every error carries three named fields, whatever its class: ``subject`` (what was checked),
``arrived`` (what was found) and ``expected`` (what would have been right), and builds its
message from them in ``__init__``; a raise site gives facts, never a finished sentence. Error
classes with richer fields (:class:`ResolutionError`, :class:`OutputExistsError`, ...) also keep
those and word their message from them. The advice on how to
fix it depends on who asked: a Python caller passes an argument, a CLI user a flag, an app
user moves a widget. :meth:`OcmError.hint` words it for one front end and
:meth:`OcmError.describe` gives problem and hint together; ``str(err)`` is the Python
wording. Front ends print ``err.describe("cli")`` / ``err.describe("app")`` and never edit
the text.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

#: Who shows an error: a Python caller, the ``ocm`` command or the Streamlit app.
Frontend = Literal["python", "cli", "app"]


@dataclass(frozen=True, slots=True)
class Hints:
    """Fix advice in the words of each front end, for an error raised in one place only.

    Attributes:
        python: Naming function arguments (``overwrite=True``).
        cli: Naming command-line flags (``--overwrite``).
        app: Naming the app's pages and widgets.
    """

    python: str
    cli: str
    app: str

    @classmethod
    def same(cls, text: str) -> Hints:
        """Advice that reads the same for every front end."""
        return cls(text, text, text)


def _restore(cls: type[OcmError], args: tuple[Any, ...], state: dict[str, Any]) -> OcmError:
    """Rebuild a pickled error from its message and fields (its ``__init__`` takes fields, not the message)."""
    err = cls.__new__(cls, *args)
    err.args = args
    err.__dict__.update(state)
    return err


def show(value: object) -> str:
    """A field's value as the message shows it: text as it is, other values as ``repr``."""
    if isinstance(value, str):
        return value
    if isinstance(value, Path):
        return str(value)
    return repr(value)


class OcmError(Exception):
    """Root of every error raised on purpose by ``ocm_engine`` (and the app).

    Args:
        subject: What was checked, e.g. ``"Image array"``, ``"Weights folder /models"``.
        arrived: What was found there (a value, or its description).
        expected: What would have been right.
        hints: Advice per front end, when the raise site has advice (classes with richer
            fields derive it from their fields instead).
        problem: Only for error classes that word the message from richer fields of their
            own; raise sites leave it out and the message is built from the three fields.

    Attributes:
        subject: As given.
        arrived: As given.
        expected: As given.
        problem: What arrived and what was expected, in words, without advice.
        hints: As given.
    """

    def __init__(self, subject: str, *, arrived: object, expected: object, hints: Hints | None = None,
                 problem: str | None = None) -> None:
        self.subject = subject
        self.arrived = arrived
        self.expected = expected
        self.problem = problem if problem is not None else f"{subject}: got {show(arrived)}; expected {show(expected)}."
        self.hints = hints
        advice = self.hint("python")
        super().__init__(f"{self.problem} {advice}" if advice else self.problem)

    def hint(self, frontend: Frontend) -> str:
        """How to fix it, in the words of ``frontend`` ("" when the problem says all)."""
        return "" if self.hints is None else getattr(self.hints, frontend)

    def describe(self, frontend: Frontend) -> str:
        """The problem and the hint for ``frontend``: what the CLI prints and the app shows."""
        advice = self.hint(frontend)
        return f"{self.problem} {advice}" if advice else self.problem

    def __str__(self) -> str:
        """The Python wording (without the quotes ``KeyError`` would add)."""
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle message and fields (batch workers send errors across processes)."""
        return (_restore, (type(self), self.args, dict(self.__dict__)))


def describe(err: BaseException, frontend: Frontend) -> str:
    """An error's text for a front end: :meth:`OcmError.describe`, or ``str(err)`` for other errors."""
    return err.describe(frontend) if isinstance(err, OcmError) else str(err)


class UnknownSensorError(OcmError, KeyError):
    """A sensor (or catalog) preset name that is not in the registry.

    Attributes:
        name: The name asked for.
        known: The valid names.
        kind: ``"sensor"`` or ``"catalog preset"``.
    """

    def __init__(self, name: str, known: Sequence[str], kind: Literal["sensor", "catalog preset"] = "sensor") -> None:
        self.name = name
        self.known = tuple(known)
        self.kind = kind
        listed = ", ".join(self.known)
        if kind == "sensor":
            problem = f"Unknown sensor {name!r}. Expected one of: {listed}."
        else:
            problem = f"Unknown catalog preset {name!r}. Valid presets: {listed}."
        super().__init__("Sensor" if kind == "sensor" else "Catalog preset", arrived=name, expected=self.known,
                         problem=problem)

    def hint(self, frontend: Frontend) -> str:
        """The alternative to a preset."""
        if self.kind == "sensor":
            return {"python": "Or map the bands explicitly (bands=(R, G, NIR), 1-based numbers).",
                    "cli": "Or map the bands explicitly (--bands R,G,NIR, 1-based numbers).",
                    "app": "Or map the bands by hand on the Run page (step 1, Bands)."}[frontend]
        return {"python": "Or pass a catalog URL and collection id.",
                "cli": "Or pass --catalog URL and --collection ID.",
                "app": "Or enter a catalog URL and collection id."}[frontend]


BandMismatchReason = Literal["required", "out_of_range"]


class BandMismatchError(OcmError, ValueError):
    """The image does not have the bands the mapping asks for.

    Raised with ``reason`` the message is built from the role fields; other raise sites (files
    that disagree on CRS or extent, malformed pairs) give ``subject``, ``arrived`` and ``expected``.

    Attributes:
        reason: ``"required"`` (Red or Green mapped to nothing) or ``"out_of_range"`` (a band
            beyond the image's last); ``None`` for other mismatches.
        role: The band role concerned (``"Red"``, ``"Green"``, ``"NIR"``, ``"Blue"``).
        asked: The band index or number asked for.
        available: How many bands the image (or file) has.
        base: Whether ``asked`` counts from 0 (numpy indices) or 1 (GDAL band numbers).
        file_names: The files concerned.
    """

    def __init__(self, subject: str = "", *, arrived: object = None, expected: object = None,
                 reason: BandMismatchReason | None = None, role: str | None = None,
                 asked: int | None = None, available: int | None = None, base: Literal[0, 1] = 0,
                 file_names: Sequence[str] = (), hints: Hints | None = None, problem: str | None = None) -> None:
        self.reason = reason
        self.role = role
        self.asked = asked
        self.available = available
        self.base = base
        self.file_names = tuple(file_names)
        if reason == "required":
            subject, arrived, expected = f"{role} band", None, "a band"
            problem = f"A {role} band is required; got None."
        elif reason == "out_of_range":
            count = available or 0
            where = f"{self.file_names[0]} has" if self.file_names else "the image has"
            noun = "indices" if base == 0 else "numbers"
            subject = f"{role} band {'index' if base == 0 else 'number'}"
            arrived, expected = asked, f"{base}-based {noun} {base}..{count - 1 + base}"
            problem = (f"{role} band {'index' if base == 0 else 'number'} {asked} is out of range: {where} "
                       f"{count} band(s) (valid {base}-based {noun} {base}..{count - 1 + base}).")
        elif not subject or expected is None:
            raise TypeError("BandMismatchError needs reason=, or subject, arrived= and expected=")
        super().__init__(subject, arrived=arrived, expected=expected, hints=hints, problem=problem)

    def hint(self, frontend: Frontend) -> str:
        """For a mapping that asks too much: where the mapping is set."""
        if self.reason is None:
            return super().hint(frontend)
        return {"python": "Check the band mapping (bands=) or the sensor preset (sensor=).",
                "cli": "Check --bands (1-based) or --sensor.",
                "app": "Check the sensor preset or the band mapping on the Run page (step 1, Bands)."}[frontend]


class InvalidImageError(OcmError, ValueError):
    """The image array is unusable: wrong rank, dtype, size or content."""


class NoValidDataError(InvalidImageError):
    """Every pixel of the image is nodata."""


class ImageTooSmallError(InvalidImageError):
    """The image is smaller than the smallest patch the models accept."""


ResolutionProblem = Literal["not_positive", "too_coarse", "too_fine", "upsample", "no_crs", "too_large"]


class ResolutionError(OcmError, ValueError):
    """The requested inference resolution is impossible or unsupported.

    Attributes:
        reason: What is wrong: ``"not_positive"`` (not a finite positive number),
            ``"too_coarse"`` / ``"too_fine"`` (outside ``low_m``-``high_m``), ``"upsample"`` (finer
            than the source), ``"no_crs"`` (metres asked of an input without CRS) or
            ``"too_large"`` (the grid exceeds a front end's pixel limit).
        asked_m: The resolution asked for (``None``: the default).
        source_m: The source's pixel size in metres (NaN when unknown).
        low_m: Finest resolution the models accept.
        high_m: Coarsest resolution the models accept.
        size_px: ``(width, height)`` of the grid, for ``"too_large"``.
        limit_px: The pixel limit, for ``"too_large"``.
    """

    def __init__(self, reason: ResolutionProblem, asked_m: float | None, source_m: float = math.nan, *,
                 low_m: float = 5.0, high_m: float = 50.0, size_px: tuple[int, int] | None = None,
                 limit_px: int | None = None) -> None:
        self.reason = reason
        self.asked_m = asked_m
        self.source_m = float(source_m)
        self.low_m = low_m
        self.high_m = high_m
        self.size_px = size_px
        self.limit_px = limit_px
        known = math.isfinite(self.source_m) and self.source_m > 0
        if reason == "not_positive":
            problem = f"Resolution {asked_m!r} m is not a finite positive number."
        elif reason == "too_coarse":
            source = f" (the source is {self.source_m:.4g} m)" if known else ""
            problem = f"Resolution {asked_m:g} m is coarser than the {high_m:g} m the models accept{source}."
        elif reason == "too_fine":
            problem = f"Resolution {asked_m:g} m is finer than the {low_m:g} m the models accept."
        elif reason == "upsample":
            problem = (f"Resolution {asked_m:g} m is finer than the source's {self.source_m:.4g} m: that would "
                       "upsample the imagery and invent detail.")
        elif reason == "no_crs":
            problem = (f"resolution_m={asked_m} needs the input's CRS to know its pixel size in metres, but the "
                       "input has none.")
        else:
            res = f"{asked_m:g} m" if asked_m is not None and math.isfinite(asked_m) else "its own resolution"
            width, height = size_px or (0, 0)
            problem = f"At {res} the scene is {width} x {height} px, over the app's {limit_px or 0:,} px limit."
        expected = {"not_positive": "a finite positive number of metres",
                    "too_coarse": f"{low_m:g}-{high_m:g} m", "too_fine": f"{low_m:g}-{high_m:g} m",
                    "upsample": f"{max(self.source_m, low_m):.4g} m or coarser",
                    "no_crs": "an input with a CRS", "too_large": f"at most {limit_px or 0:,} px"}[reason]
        arrived: object = size_px if reason == "too_large" else asked_m
        super().__init__("Grid size" if reason == "too_large" else "Resolution (m)", arrived=arrived,
                         expected=expected, problem=problem)

    def hint(self, frontend: Frontend) -> str:
        """Which resolution to choose, named as the front end sets it."""
        flag = {"python": "resolution_m=20", "cli": "--resolution 20", "app": "20 m"}[frontend]
        span = f"{self.low_m:g}-{self.high_m:g} m"
        if self.reason == "not_positive":
            return f"Choose {span} (10-50 m validated), e.g. {flag}."
        if self.reason == "too_coarse":
            return f"Choose {span}, e.g. {flag}, or leave it out to use the source's own."
        if self.reason == "too_fine":
            return f"Choose {span}."
        if self.reason == "upsample":
            return f"Choose {max(self.source_m, self.low_m):.4g} m or coarser."
        if self.reason == "no_crs":
            return ("Write it first (da = da.rio.write_crs('EPSG:32633')), or leave resolution_m out to infer "
                    "on the input's own grid.")
        if frontend == "app":
            return ("Choose a coarser resolution, or use the command line (`ocm predict`), which processes "
                    "large scenes block by block.")
        return "Choose a coarser resolution."


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
    """An output file exists and overwriting was not asked for.

    Attributes:
        path: The existing file.
        incomplete: Names of the outputs found when they are an interrupted run's (the report
            is missing); empty when the outputs are complete.
        report_name: The missing report's file name (with ``incomplete``).
        concurrent: Another writer created the file while this one was writing.
    """

    def __init__(self, path: str | Path, *, incomplete: Sequence[str] = (), report_name: str = "",
                 concurrent: bool = False) -> None:
        self.path = Path(path)
        self.incomplete = tuple(incomplete)
        self.report_name = report_name
        self.concurrent = concurrent
        if self.incomplete:
            problem = (f"{self.path} already exists, but {report_name} does not: the outputs "
                       f"({', '.join(self.incomplete)}) are incomplete, probably from an interrupted run.")
        elif concurrent:
            problem = f"{self.path} already exists (another run wrote it meanwhile)."
        else:
            problem = f"{self.path} already exists."
        arrived = f"incomplete outputs ({', '.join(self.incomplete)})" if self.incomplete else "an existing file"
        super().__init__(f"Output {self.path}", arrived=arrived, expected="no file there, or overwriting allowed",
                         problem=problem)

    def hint(self, frontend: Frontend) -> str:
        """How to replace it: ``overwrite=True``, ``--overwrite``, or another folder."""
        how = {"python": "Pass overwrite=True", "cli": "Pass --overwrite", "app": "Allow overwriting"}[frontend]
        if self.incomplete:
            return f"{how} to redo the scene, or delete them."
        return f"{how} to replace it, or choose another output folder."


class SceneListError(OcmError, ValueError):
    """A scene list (paths, glob, CSV or STAC items) that cannot be turned into scenes."""


class ConfigError(OcmError, ValueError):
    """A setting the operator gives through the environment (``$OCM_ALLOWED_ORIGINS``, ...) that cannot be used."""


class UnknownClassError(OcmError, KeyError):
    """A class name that is not in the scheme scored (``scores.score("cloud")`` on a four-class table).

    Attributes:
        name: The name asked for.
        known: The scheme's class names.
    """

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = tuple(known)
        super().__init__("Class name", arrived=name, expected=self.known)


class BatchError(OcmError, RuntimeError):
    """A batch could not run at all: no Dask, or no reachable cluster."""


class DeviceMemoryError(OcmError, MemoryError):
    """The device ran out of memory even with one patch per forward pass."""


#: What went wrong with a request: an HTTP status, or how the connection failed.
RequestFailureKind = Literal["status", "dns", "refused", "tls", "closed", "unreachable", "timeout", "other"]


class _RequestFailed(OcmError):
    """Fields of a failed request, shared by catalog and asset errors (not raised itself).

    Attributes:
        url: What was asked for (query string redacted), or ``""`` when no request was made.
        status: The HTTP status when the server answered one.
        kind: How it failed (``None`` when no request was made).
        timeout_s: The time allowed, when known.
    """

    def __init__(self, subject: str, *, arrived: object, expected: object, url: str = "",
                 status: int | None = None, kind: RequestFailureKind | None = None,
                 timeout_s: float | None = None, hints: Hints | None = None) -> None:
        self.url = url
        self.status = status
        self.kind = kind
        self.timeout_s = timeout_s
        super().__init__(subject, arrived=arrived, expected=expected, hints=hints)

    def hint(self, frontend: Frontend) -> str:
        """For a timeout: allow more time (``timeout_s``, ``--timeout``) or try again later."""
        if self.kind == "timeout":
            more = {"python": ", or allow more time (timeout_s=)", "cli": ", or allow more time (--timeout)",
                    "app": ""}[frontend]
            return f"Check the network, try again later{more}."
        return super().hint(frontend)


class CatalogError(_RequestFailed, OSError):
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
            f"STAC item {item_id!r}", arrived=f"assets {listed or '(no raster assets)'}",
            expected=f"assets for {', '.join(self.missing)}",
            problem=(f"STAC item {item_id!r} has no asset for {', '.join(self.missing)} (looked for eo:bands / "
                     f"bands common names red, green, nir or nir08, and the collection's preset asset keys). "
                     f"Found: {listed or 'no raster assets'}."),
        )

    def hint(self, frontend: Frontend) -> str:
        """Name the assets (``assets=``, ``--stac-assets``), or pick another collection."""
        how = {"python": "Name the assets yourself (assets=('RED', 'GREEN', 'NIR')), ",
               "cli": "Name the assets yourself (--stac-assets RED,GREEN,NIR), ",
               "app": ""}[frontend]
        return f"{how}{'or p' if how else 'P'}ick a collection with Red, Green and NIR bands."


class WindowError(OcmError, ValueError):
    """A requested window (bbox) that misses the item, or is too large to read."""


class AssetReadError(_RequestFailed, SceneReadError):
    """A STAC asset (remote raster) that cannot be opened or read: 404, 403, timeout, network."""


class PolicyError(OcmError, PermissionError):
    """A URL, path or upload refused by the server's network and file policy (before any request or open)."""


class LabelSchemeError(OcmError, ValueError):
    """Reference labels scored without a class scheme whose values are not the model's four class codes.

    Attributes:
        found: The label values found.
        schemes: Known class schemes.
    """

    def __init__(self, found: Sequence[int], schemes: Sequence[str]) -> None:
        self.found = tuple(int(v) for v in found)
        self.schemes = tuple(schemes)
        super().__init__(
            "Reference label values", arrived=list(self.found),
            expected="the model's class codes 0-3, or a named class scheme",
            problem=(f"The reference labels hold the values {list(self.found)}, which are not the model's class "
                     "codes (0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow)."),
        )

    def hint(self, frontend: Frontend) -> str:
        """Name the labels' class scheme (``scheme=``, ``--scheme``, the scheme selector)."""
        listed = ", ".join(self.schemes)
        if frontend == "cli":
            return f"Name the labels' class scheme so they are scored in it: --scheme one of {listed}."
        if frontend == "app":
            return f"The labels need a class scheme the app knows ({listed})."
        return (f"Name the labels' class scheme so they are scored in it: scheme= one of {listed}; leave "
                "pixels without data out with valid=.")


class UnknownLabelSchemeError(OcmError, KeyError):
    """A label scheme name that is not in the registry.

    Attributes:
        name: The name asked for.
        known: The valid names.
    """

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = tuple(known)
        super().__init__("Label scheme", arrived=name, expected=self.known,
                         problem=f"Unknown label scheme {name!r}; known schemes: {', '.join(self.known)}.")


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


def one_line(err: BaseException | str, limit: int | None = None, frontend: Frontend = "python") -> str:
    """An error's message on one line (wrapped library messages included), for CLI and log lines.

    Args:
        err: The error (or a message).
        limit: Longest result in characters; a longer text is cut at the last word that fits
            and ends in ``…`` (never in the middle of a word). ``None``: no limit.
        frontend: Whose words the fix advice of an :class:`OcmError` is in (see :func:`describe`).
    """
    text = " ".join((err if isinstance(err, str) else describe(err, frontend)).split())
    return text if limit is None else shorten(text, limit)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with ``…`` when cut."""
    if len(text) <= limit:
        return text
    cut = text[: max(1, limit - 1)]
    head = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return head.rstrip(" ,;:(") + "…"
