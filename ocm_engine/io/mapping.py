"""Band mappings as values, and the one resolver that decides which bands are Red, Green, NIR, Blue.

A :class:`BandMapping` numbers bands **1-based**, as GDAL and rasterio do: band numbers of one
multiband file (``unit="band"``), or positions in a list of one-file-per-band inputs
(``unit="file"``). :func:`resolve_mapping` is the only place that turns what a user gave
(a sensor preset, explicit numbers, ``(file, band)`` pairs, or nothing) and what the files say
about themselves (band descriptions, colour interpretation, file names) into the bands read.
It opens nothing: readers pass each file's facts as :class:`FileBands`.

Order of evidence, first that applies:

1. ``(file, band)`` pairs or explicit ``bands``: used as given (checked against the files).
2. Band descriptions (``"B04"``, ``"red"``, ``"nir"``, ``"B8A"``), then STAC common names; a sensor
   preset's band names first, and a narrow-NIR preset (B8A, OLI B5) takes ``nir08`` before ``nir``.
3. A sensor preset: its band positions (one file) or its band names in the file names.
4. GDAL colour interpretation (Red, Green, Blue set; one undefined band left is NIR).
5. Band-named files (``red.tif``, ``T1_B04.tif``) of a 3- or 4-file scene.
6. A guess by band count or file order, which is never silent: a :class:`BandGuessWarning`
   says what was guessed and names the presets that fit the band count.

:func:`~ocm_engine.predict_array` on an in-memory array is the one exception to 1-based
numbers: it takes **0-based** numpy indices, as numpy indexes the array's first axis.
:func:`~ocm_engine.xarray_io.predict_dataarray` resolves a band coordinate here too (as one :class:`FileBands`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ocm_engine.errors import BandMismatchError, Frontend, Hints, OcmWarning
from ocm_engine.sensors import SENSORS, SensorPreset

MappingUnit = Literal["band", "file"]
MappingOrigin = Literal["given", "pairs", "descriptions", "preset", "colorinterp", "file_names", "guess"]
ROLES: tuple[str, str, str, str] = ("Red", "Green", "NIR", "Blue")

_ONE_BASED = Hints(python="Number bands from 1, as GDAL does: bands=(1, 2, 3) for the first three.",
                   cli="Number bands from 1, as GDAL does: --bands 1,2,3 for the first three.",
                   app="Number bands from 1, as GDAL does.")

_ORIGIN_TEXT: dict[str, str] = {
    "given": "as given", "pairs": "as given", "descriptions": "from the band descriptions",
    "preset": "from the sensor preset", "colorinterp": "from the colour interpretation",
    "file_names": "from the file names", "guess": "guessed",
}


@dataclass(frozen=True, slots=True)
class BandMapping:
    """Red, Green, NIR and Blue as **1-based** numbers: bands of one file, or files of a list.

    Attributes:
        red: Red's band (or file) number.
        green: Green's band (or file) number.
        nir: NIR's number, or ``None`` (zeros are used, with a warning).
        blue: Blue's number (display only), or ``None``.
        unit: ``"band"``: band numbers of one multiband file; ``"file"``: positions in the list
            of one-file-per-band inputs (band 1 of each).
        origin: Where the mapping came from (``"guess"`` when nothing in the files said so).

    Raises:
        BandMismatchError: A number under 1 or not an integer.
    """

    red: int
    green: int
    nir: int | None = None
    blue: int | None = None
    unit: MappingUnit = "band"
    origin: MappingOrigin = "given"

    def __post_init__(self) -> None:
        """Check every number is a 1-based integer."""
        for role, value in zip(ROLES, self.numbers, strict=True):
            if value is None and role in ("Red", "Green"):
                raise BandMismatchError(reason="required", role=role)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise BandMismatchError(f"{role} band number", arrived=value,
                                        expected="a 1-based integer (1, 2, ...)", hints=_ONE_BASED, role=role,
                                        asked=value if isinstance(value, int) else None, base=1)

    @classmethod
    def of(cls, numbers: Sequence[int | None], unit: MappingUnit = "band",
           origin: MappingOrigin = "given") -> BandMapping:
        """A mapping from 3 (Red, Green, NIR) or 4 (with Blue) 1-based numbers.

        Raises:
            BandMismatchError: Not 3 or 4 numbers, or a number under 1.
        """
        values = list(numbers)
        if len(values) not in (3, 4):
            raise BandMismatchError("Band numbers", arrived=values,
                                    expected="3 numbers (Red, Green, NIR), or 4 with Blue")
        red, green, nir, blue = (*values, None) if len(values) == 3 else values
        if red is None or green is None:
            raise BandMismatchError(reason="required", role="Red" if red is None else "Green")
        return cls(_as_int(red), _as_int(green), _opt_int(nir), _opt_int(blue), unit, origin)

    @property
    def numbers(self) -> tuple[int, int, int | None, int | None]:
        """Red, Green, NIR, Blue (1-based; ``None`` when absent)."""
        return self.red, self.green, self.nir, self.blue

    @property
    def guessed(self) -> bool:
        """Whether nothing in the files or the call said which band is which."""
        return self.origin == "guess"

    def describe(self, origin: bool = True) -> str:
        """The mapping in words, e.g. ``"R=band 3, G=band 2, NIR=band 4, B=band 1 (guessed)"``.

        Args:
            origin: Say where it came from (``"(guessed)"``, ``"(from the band descriptions)"``...).
        """
        parts = [f"R={self.unit} {self.red}", f"G={self.unit} {self.green}",
                 "NIR=none (zeros)" if self.nir is None else f"NIR={self.unit} {self.nir}"]
        if self.blue is not None:
            parts.append(f"B={self.unit} {self.blue}")
        return ", ".join(parts) + (f" ({_ORIGIN_TEXT[self.origin]})" if origin else "")


def _as_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BandMismatchError("Band number", arrived=value, expected="a 1-based integer (1, 2, ...)",
                                hints=_ONE_BASED)
    return value


def _opt_int(value: object) -> int | None:
    return None if value is None else _as_int(value)


@dataclass(frozen=True, slots=True)
class FileBands:
    """What one opened file says about its bands (the resolver's only input from the files).

    Attributes:
        name: The file's name as the user knows it (an upload's own name, not the saved copy's).
        count: Number of bands.
        descriptions: One description per band (``""`` when none).
        colorinterp: One GDAL colour interpretation per band, lower case (``"red"``, ``"undefined"``...).
        common_names: One STAC common name per band (``"nir08"``, ``""`` when none), after the descriptions.
    """

    name: str
    count: int
    descriptions: tuple[str, ...] = ()
    colorinterp: tuple[str, ...] = ()
    common_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BandRef:
    """One input band: the file's position in the list of inputs (0-based) and its 1-based band."""

    dataset: int
    band: int


@dataclass(frozen=True, slots=True)
class ResolvedBands:
    """The outcome of :func:`resolve_mapping`.

    Attributes:
        mapping: The mapping as users number it; ``None`` for ``(file, band)`` pairs, which are
            their own mapping.
        refs: Red, Green, NIR, Blue as (file index, 1-based band); NIR and Blue may be ``None``.
        names: Product band names of Red, Green, NIR, Blue when known (``""`` otherwise).
        warnings: :class:`BandGuessWarning` when the mapping was guessed.
    """

    mapping: BandMapping | None
    refs: tuple[BandRef, BandRef, BandRef | None, BandRef | None]
    names: tuple[str, str, str, str] = ("", "", "", "")
    warnings: tuple[OcmWarning, ...] = ()

    def describe(self) -> str:
        """The mapping in words (``(file, band)`` pairs included)."""
        if self.mapping is not None:
            return self.mapping.describe()
        parts = [f"{role[0] if role != 'NIR' else role}=file {r.dataset + 1} band {r.band}"
                 for role, r in zip(ROLES, self.refs, strict=True) if r is not None]
        return ", ".join(parts) + " (as given)"


class BandMappingError(BandMismatchError):
    """A mapping that does not fit the files, with fields each front end words its advice from.

    Args:
        subject: What was checked, e.g. ``"Red band number"``, ``"Band count of a.tif"``.
        arrived: What was found (the number asked for, the band count...).
        expected: What would have fitted (``"1..4 (a.tif has 4 band(s))"``).
        presets: Sensor preset keys that fit the files (may be empty).
        suggestion: 1-based Red, Green, NIR[, Blue] numbers that would work, or ``None``.
        role, asked, available: A number beyond the last band (or file): role, 1-based number, count.

    Attributes:
        presets: As given.
        suggestion: As given (a tuple), or ``None``.

    Pickled by fields, like every :class:`~ocm_engine.errors.OcmError` (the app caches layouts that
    carry this error).
    """

    def __init__(self, subject: str, *, arrived: object, expected: object, presets: Sequence[str] = (),
                 suggestion: Sequence[int | None] | None = None, role: str | None = None,
                 asked: int | None = None, available: int | None = None) -> None:
        self.presets = tuple(presets)
        self.suggestion = None if suggestion is None else tuple(suggestion)
        super().__init__(subject, arrived=arrived, expected=expected, role=role, asked=asked, available=available,
                         base=1)

    def hint(self, frontend: Frontend) -> str:
        """How to fix it, in the words of a front end (Python arguments, CLI flags, app widgets)."""
        numbers = None if self.suggestion is None else [n for n in self.suggestion]
        while numbers and numbers[-1] is None:
            numbers.pop()
        if frontend == "python":
            options = [f"sensor={k!r}" for k in self.presets[:3]]
            options.append("bands=(R, G, NIR)" if numbers is None else f"bands={tuple(numbers)!r}")
            return f"Pass {' or '.join(options)} (1-based band numbers)."
        if frontend == "cli":
            options = [f"--sensor {k}" for k in self.presets[:3]]
            text = "R,G,NIR" if numbers is None else ",".join("" if n is None else str(n) for n in numbers[:3])
            options.append(f"--bands {text}")
            return f"Pass {' or '.join(options)} (1-based band numbers)."
        presets = ", ".join(f"{SENSORS[k].label}" for k in self.presets[:3] if k in SENSORS)
        return ("Choose " + (f"a sensor preset that fits ({presets}), or " if presets else "a sensor preset, or ")
                + "map the bands by hand on the Run page (step 1, Bands).")


class BandGuessWarning(OcmWarning):
    """Nothing said which band is which (no preset, descriptions or colour interpretation): guessed.

    Attributes:
        source: The file (or first file) the mapping is for.
        mapping: The guessed mapping.
        presets: Sensor preset keys that fit the band count, to choose by name.
        reason: Why it is a guess.
    """

    def __init__(self, source: str, mapping: BandMapping, presets: Sequence[str], reason: str) -> None:
        self.source = source
        self.mapping = mapping
        self.presets = tuple(presets)
        self.reason = reason
        offer = ", ".join(f"{k} [{SENSORS[k].label}]" for k in self.presets if k in SENSORS)
        super().__init__(
            f"Band order of {source} guessed: {mapping.describe(origin=False)}, because {reason}. "
            "Check the true-colour preview; if the bands are in another order, choose a sensor preset"
            + (f" that fits ({offer})" if offer else "") + " or map the bands explicitly."
        )

    def __reduce__(self) -> tuple[type[BandGuessWarning], tuple[str, BandMapping, tuple[str, ...], str]]:
        """Pickle by fields (scenes and layouts that carry it are cached by the app)."""
        return (type(self), (self.source, self.mapping, self.presets, self.reason))


def presets_for(count: int, unit: MappingUnit = "band") -> tuple[str, ...]:
    """Sensor presets that fit a file of ``count`` bands (stack size first, then positions in range).

    Args:
        count: Bands of the one file (or number of files, for ``unit="file"``: then none fit by
            position, and presets are matched by file names instead).
        unit: What ``count`` counts.

    Returns:
        Preset keys whose stack has exactly ``count`` bands, then those whose positions fit.
    """
    if unit == "file":
        return ()
    exact = [k for k, p in SENSORS.items() if p.stack_bands == count]
    fits = [k for k, p in SENSORS.items() if k not in exact and _max_position(p) <= count
            and (p.stack_bands is None or p.stack_bands <= count)]
    return (*exact, *fits)


def _offer(count: int) -> tuple[str, ...]:
    """Presets to offer by name for a guessed file: those whose stack has exactly ``count`` bands."""
    return tuple(k for k, p in SENSORS.items() if p.stack_bands == count)


def _max_position(preset: SensorPreset) -> int:
    return max(b for b in (*preset.band_indices, preset.blue_band) if b is not None)


# ----------------------------------------------------------------------------- name matching
def band_token(name: str) -> str:
    """Normalise a band name: ``B4`` and ``B04`` compare equal, case-insensitive."""
    match = re.fullmatch(r"b0*(\d+a?)", name.strip().lower())
    return f"b{match.group(1)}" if match else name.strip().lower()


def _file_tokens(path: str) -> set[str]:
    stem = re.split(r"[\\/]", path)[-1].rsplit(".", 1)[0]
    return {band_token(t) for t in re.split(r"[^A-Za-z0-9]+", stem) if t}


def _match_one(names: Sequence[str], band: str | None) -> int | None:
    """0-based position of the one file named after ``band`` (``None``: none or several)."""
    if band is None:
        return None
    want = band_token(band)
    hits = [i for i, name in enumerate(names) if want in _file_tokens(name)]
    return hits[0] if len(hits) == 1 else None


#: Words that name a role in any product. Sentinel-2 style numbers count only zero-padded
#: (``B04``, ``B8A``): Landsat 4-7's ``B3`` is Red, not Green, so a bare ``B3`` proves nothing.
_ROLE_WORDS: dict[str, frozenset[str]] = {
    "Red": frozenset({"red", "r"}), "Green": frozenset({"green", "g"}),
    "NIR": frozenset({"nir", "nir08", "near-infrared", "near infrared", "nearinfrared", "nir1"}),
    "Blue": frozenset({"blue", "b"}),
}
_S2_NAMES: dict[str, frozenset[str]] = {
    "Red": frozenset({"b04"}), "Green": frozenset({"b03"}), "NIR": frozenset({"b08", "b8a"}),
    "Blue": frozenset({"b02"}),
}
#: Tokens in file names (generic words and Sentinel-2/Landsat 8 numbers) for a scene given as band files.
_FILE_TOKENS: dict[str, frozenset[str]] = {
    "Red": frozenset({"red", "b4"}), "Green": frozenset({"green", "b3"}),
    "NIR": frozenset({"nir", "b8", "b8a"}), "Blue": frozenset({"blue", "b2"}),
}


#: NIR band names of presets whose NIR is the narrow one (Sentinel-2 B8A, OLI and HLS L30 B5/B05,
#: TM/ETM+ B4), which take a band named as narrow NIR (STAC ``nir08``) before a broad ``nir``.
_NARROW_NIR_BANDS = frozenset({"b8a", "b5", "b4"})
_NARROW_NIR_WORDS = frozenset({"nir08", "nir narrow"})


def _role_of_description(text: str) -> str | None:
    """The role a band description names (``"B04"``, ``"red"``, ``"nir (B08)"``), or ``None``."""
    words = text.strip().lower()
    tokens = [t for t in re.split(r"[^a-z0-9]+", words) if t]
    found = set()
    for role in ROLES:
        if words in _ROLE_WORDS[role] or words.replace("_", " ") in _ROLE_WORDS[role]:
            found.add(role)
        elif any((t in _ROLE_WORDS[role] and len(t) > 1) or t in _S2_NAMES[role] for t in tokens):
            found.add(role)
    return found.pop() if len(found) == 1 else None


# ----------------------------------------------------------------------------- the resolver
def resolve_mapping(
    files: Sequence[FileBands],
    *,
    sensor: SensorPreset | None = None,
    bands: BandMapping | Sequence[int | None] | None = None,
    pairs: Sequence[tuple[int, int] | None] | None = None,
) -> ResolvedBands:
    """Decide which bands are Red, Green, NIR and Blue (see the module docstring for the order).

    Args:
        files: Facts of the opened files, in the order given.
        sensor: A sensor preset, or ``None``.
        bands: Explicit 1-based Red, Green, NIR[, Blue] (bands of one file, or file positions);
            overrides everything else.
        pairs: ``(file index, 1-based band)`` per role (Red, Green, NIR[, Blue]), from
            ``(file, band)`` sources.

    Returns:
        The mapping, the bands it reads, their product names and any :class:`BandGuessWarning`.

    Raises:
        BandMappingError: The mapping does not fit the files, or nothing can be guessed.
    """
    if not files:
        raise BandMappingError("Input files", arrived="none", expected="a multiband file or one file per band")
    if pairs is not None:
        return _from_pairs(files, pairs)
    unit: MappingUnit = "band" if len(files) == 1 else "file"
    if bands is not None:
        mapping = bands if isinstance(bands, BandMapping) else BandMapping.of(bands, unit)
        if mapping.unit != unit:
            raise BandMappingError(
                "Band mapping", arrived=f"{mapping.unit} numbers for {len(files)} file(s)",
                expected="band numbers of the file" if unit == "band" else "positions in the list of files",
            )
        return _checked(files, mapping, _preset_names(sensor, mapping))
    if unit == "band":
        return _one_file(files[0], sensor)
    return _band_files(files, sensor)


def _preset_names(sensor: SensorPreset | None, mapping: BandMapping) -> tuple[str, str, str, str]:
    """A preset's band names, when the mapping is the preset's own positions."""
    if sensor is None or mapping.numbers[:3] != sensor.band_indices:
        return ("", "", "", "")
    return (sensor.red, sensor.green, sensor.nir or "", sensor.blue or "")


def _checked(files: Sequence[FileBands], mapping: BandMapping, names: tuple[str, str, str, str],
             warnings: tuple[OcmWarning, ...] = ()) -> ResolvedBands:
    limit = files[0].count if mapping.unit == "band" else len(files)
    refs: list[BandRef | None] = []
    for role, number in zip(ROLES, mapping.numbers, strict=True):
        if number is None:
            refs.append(None)
            continue
        if number > limit:
            what = (f"{files[0].name} has {limit} band(s)" if mapping.unit == "band"
                    else f"{limit} files were given ({_numbered(files)})")
            raise BandMappingError(f"{role} {mapping.unit} number", arrived=number, expected=f"1..{limit} ({what})",
                                   presets=presets_for(limit, mapping.unit), role=role, asked=number, available=limit)
        refs.append(BandRef(0, number) if mapping.unit == "band" else BandRef(number - 1, 1))
    red, green, nir, blue = refs
    assert red is not None and green is not None  # BandMapping requires them
    return ResolvedBands(mapping, (red, green, nir, blue), names, warnings)


def _numbered(files: Sequence[FileBands]) -> str:
    return ", ".join(f"{i}={f.name}" for i, f in enumerate(files, start=1))


def _from_pairs(files: Sequence[FileBands], pairs: Sequence[tuple[int, int] | None]) -> ResolvedBands:
    if len(pairs) not in (3, 4) or pairs[0] is None or pairs[1] is None:
        raise BandMappingError(
            "Band pairs", arrived=list(pairs),
            expected="3 or 4 entries: Red, Green (required), NIR (None when absent) and optionally Blue",
        )
    refs: list[BandRef | None] = []
    for role, pair in zip(ROLES, (*pairs, None) if len(pairs) == 3 else pairs, strict=True):
        if pair is None:
            refs.append(None)
            continue
        index, band = pair
        count = files[index].count
        if not 1 <= band <= count:
            raise BandMappingError(f"{role} band number of {files[index].name}", arrived=band,
                                   expected=f"1..{count} ({count} band(s); numbers are 1-based)")
        refs.append(BandRef(index, band))
    red, green, nir, blue = refs
    assert red is not None and green is not None
    return ResolvedBands(None, (red, green, nir, blue))


def _one_file(file: FileBands, sensor: SensorPreset | None) -> ResolvedBands:
    described = _by_descriptions(file, sensor)
    if described is not None:
        return described
    if sensor is not None:
        wanted = [*sensor.band_indices, sensor.blue_band if (sensor.blue_band or 0) <= file.count else None]
        mapping = BandMapping.of(wanted, "band", "preset")
        if max(b for b in mapping.numbers[:3] if b is not None) > file.count:
            fits = presets_for(file.count)
            family = [k for k in fits if SENSORS[k].red == sensor.red]  # e.g. sentinel2_4band for S2
            fits = (*family, *(k for k in fits if k not in family))
            example = None
            if family:
                near = SENSORS[family[0]]
                example = (near.red_band, near.green_band, near.nir_band, near.blue_band)
            raise BandMappingError(
                f"Sensor preset {sensor.key!r} ({sensor.label}) on {file.name}",
                arrived=f"{file.count} band(s) and no band descriptions that name them",
                expected=(f"a {sensor.stack_bands or _max_position(sensor)}-band stack (Red, Green, NIR at bands "
                          f"{', '.join('-' if b is None else str(b) for b in sensor.band_indices)})"),
                presets=fits, suggestion=example)
        return _checked([file], mapping, (sensor.red, sensor.green, sensor.nir or "", sensor.blue or ""))
    coloured = _by_colorinterp(file)
    if coloured is not None:
        return coloured
    return _guess_one(file)


def _suggest(count: int) -> tuple[int, int, int | None, int | None] | None:
    """The guess by band count: Red, Green, Blue, NIR for 4+ bands; Red, Green, NIR for 3."""
    if count >= 4:
        return (1, 2, 4, 3)
    if count == 3:
        return (1, 2, 3, None)
    return None


def _per_band(values: Sequence[str], count: int) -> list[str]:
    """One text per band (``""`` for a missing or empty one)."""
    return [(values[i] if i < len(values) else "") or "" for i in range(count)]


def _by_descriptions(file: FileBands, sensor: SensorPreset | None) -> ResolvedBands | None:
    """Red and Green (NIR, Blue when there) named by the band descriptions or common names, or ``None``."""
    descriptions = _per_band(file.descriptions, file.count)
    common = _per_band(file.common_names, file.count)
    if not any(descriptions) and not any(common):
        return None
    found: dict[str, int] = {}
    if sensor is not None:
        tokens = [band_token(d) for d in descriptions]
        for role, name in zip(ROLES, (sensor.red, sensor.green, sensor.nir, sensor.blue), strict=True):
            if name is not None and tokens.count(band_token(name)) == 1:
                found[role] = tokens.index(band_token(name)) + 1
    narrow = sensor is not None and sensor.nir is not None and band_token(sensor.nir) in _NARROW_NIR_BANDS
    found |= {role: number for role in ROLES if role not in found
              and (number := _named_role(role, descriptions, narrow) or _named_role(role, common, narrow))}
    if "Red" not in found or "Green" not in found:
        return None
    mapping = BandMapping(found["Red"], found["Green"], found.get("NIR"), found.get("Blue"), "band",
                          "descriptions")
    names = tuple(descriptions[n - 1] or common[n - 1] if n is not None else "" for n in mapping.numbers)
    return _checked([file], mapping, (names[0], names[1], names[2], names[3]))


def _named_role(role: str, texts: Sequence[str], narrow_nir: bool) -> int | None:
    """1-based number of the first band whose name says ``role`` (narrow NIR first when asked), or ``None``."""
    hits = [n for n, text in enumerate(texts, start=1) if _role_of_description(text) == role]
    if role == "NIR" and narrow_nir:  # a stable sort: narrow NIR names first, otherwise in band order
        hits.sort(key=lambda n: re.sub(r"[\s_-]+", " ", texts[n - 1].strip().lower()) not in _NARROW_NIR_WORDS)
    return hits[0] if hits else None


def _by_colorinterp(file: FileBands) -> ResolvedBands | None:
    """Red, Green (Blue) from GDAL colour interpretation; the one undefined band left is NIR."""
    interp = [c.lower() for c in file.colorinterp]
    if "red" not in interp or "green" not in interp:
        return None
    red, green = interp.index("red") + 1, interp.index("green") + 1
    blue = interp.index("blue") + 1 if "blue" in interp else None
    rest = [i for i, c in enumerate(interp, start=1) if c in ("undefined", "gray") and i not in (red, green, blue)]
    warnings: tuple[OcmWarning, ...] = ()
    nir = rest[0] if rest else None
    mapping = BandMapping(red, green, nir, blue, "band", "colorinterp")
    if len(rest) > 1:
        mapping = BandMapping(red, green, nir, blue, "band", "guess")
        warnings = (BandGuessWarning(file.name, mapping, _offer(file.count),
                                     f"the colour interpretation names Red and Green but {len(rest)} bands "
                                     "could be NIR"),)
    return _checked([file], mapping, ("", "", "", ""), warnings)


def _guess_one(file: FileBands) -> ResolvedBands:
    guess = _suggest(file.count)
    if guess is None:
        raise BandMappingError(f"Band count of {file.name}", arrived=file.count,
                               expected="at least 3 (Red, Green, NIR) in one file, or one file per band")
    mapping = BandMapping.of(guess, "band", "guess")
    order = "Red, Green, Blue, NIR" if file.count >= 4 else "Red, Green, NIR"
    names = [d or c for d, c in zip(_per_band(file.descriptions, 8), _per_band(file.common_names, 8), strict=True)]
    shown = ", ".join(n or "-" for n in names[:file.count]) + (", ..." if file.count > 8 else "")
    reason = (f"its band names ({shown}) do not say which are Red and Green and it has no colour interpretation"
              if any(names) else f"it has {file.count} bands and neither band descriptions nor colour "
              "interpretation") + f", so the {order} order was assumed"
    warning = BandGuessWarning(file.name, mapping, _offer(file.count), reason)
    return _checked([file], mapping, ("", "", "", ""), (warning,))


def _band_files(files: Sequence[FileBands], sensor: SensorPreset | None) -> ResolvedBands:
    names = [f.name for f in files]
    if sensor is not None:
        found = [_match_one(names, band) for band in (sensor.red, sensor.green, sensor.nir, sensor.blue)]
        if found[0] is None or found[1] is None:
            raise BandMappingError(
                f"File names for sensor preset {sensor.key!r} ({sensor.label})", arrived=f"files {_numbered(files)}",
                expected=f"one file named after each of {sensor.red} (Red) and {sensor.green} (Green)")
        red, green, nir, blue = (None if i is None else i + 1 for i in found)
        assert red is not None and green is not None  # checked above
        mapping = BandMapping(red, green, nir, blue, unit="file", origin="preset")
        return _checked(files, mapping, (sensor.red, sensor.green, sensor.nir or "", sensor.blue or ""))
    if len(files) not in (3, 4):
        raise BandMappingError(
            "Single-band files without a sensor preset or band mapping",
            arrived=f"{len(files)} files ({_numbered(files)})",
            expected="3 or 4 files (Red, Green, NIR[, Blue]), or a preset whose band names are in the file names")
    return _guess_files(files)


def _guess_files(files: Sequence[FileBands]) -> ResolvedBands:
    """Band-named files (``red.tif``, ``B04.tif``), then the order given for roles no name shows."""
    names = [f.name for f in files]
    found: dict[str, int] = {}
    for role in ROLES:
        for pos, name in enumerate(names, start=1):
            if _file_tokens(name) & _FILE_TOKENS[role] and pos not in found.values():
                found[role] = pos
                break
    named = all(role in found for role in ("Red", "Green", "NIR"))
    free = iter(p for p in range(1, len(files) + 1) if p not in found.values())
    red = found.get("Red") or next(free)
    green = found.get("Green") or next(free)
    nir = found.get("NIR") or next(free, None)
    mapping = BandMapping(red, green, nir, found.get("Blue"), "file", "file_names" if named else "guess")
    warnings: tuple[OcmWarning, ...] = ()
    if not named:
        warnings = (BandGuessWarning(
            names[0], mapping, (),
            f"no sensor preset was given and the file names ({', '.join(names)}) do not all say "
            "red/green/nir (or B04/B03/B08), so the order given was used"),)
    return _checked(files, mapping, ("", "", "", ""), warnings)
