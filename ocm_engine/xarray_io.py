"""xarray in, xarray out: cloud masks of DataArrays and Datasets, lazily for Dask-backed input.

Optional extra ``ocm-studio[xarray]`` (``xarray`` and ``rioxarray``). Importing this module
registers the ``.ocm`` accessor on DataArrays and Datasets::

    import rioxarray, ocm_engine.xarray_io
    da = rioxarray.open_rasterio("S2.tif")                       # (band, y, x)
    ds = da.ocm.predict(sensor="sentinel2_l2a", probabilities=True)
    ds.classes.plot()                                              # uint8, nodata 255
    ds.ocm.to_raster("S2_ocm.tif")                                 # the GeoTIFF `ocm predict` writes

    cube = stackstac.stack(items)                                  # (time, band, y, x), Dask
    masks = predict_dataarray(cube.sel(band=["red", "green", "nir08"]))   # lazy until computed

Inputs: a DataArray ``(band, y, x)`` or ``(time, band, y, x)``, or a Dataset with one
``(y, x)``/``(time, y, x)`` variable per band (the odc-stac shape). Which band is which is
decided by :func:`~ocm_engine.io.mapping.resolve_mapping`, the resolver files use: the ``band``
coordinate's names (and stackstac's ``common_name``) play the band descriptions (``red``,
``nir08``, ``B04``..., the sensor preset's names first), then the preset's positions, then a guess
by band count that warns (:class:`~ocm_engine.io.mapping.BandGuessWarning`), as for a file.
Explicit ``bands=`` are names of the band coordinate or **0-based** positions. CRS,
transform and nodata come from rioxarray (``da.rio.crs``, ``da.rio.transform()``,
``da.rio.nodata``); ``scale_factor``/``add_offset`` attributes are recorded, not applied (the
dynamic z-score of every patch makes a linear scaling irrelevant). The result is on the input
grid whatever the inference resolution.

The prediction runs through :func:`~ocm_engine.inference.predict_scene`, the engine's one path;
for Dask-backed input the graph is laid on the engine's global patch grid
(:mod:`ocm_engine.xarray_lazy`) and nothing is computed until asked.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ocm_engine.constants import CLASS_COLOURS, CLASS_LABELS, CLASS_NAMES, NUM_CLASSES, OUTPUT_NODATA
from ocm_engine.errors import BandMismatchError, Hints, InvalidImageError, MissingCrsWarning, ResolutionError, emit
from ocm_engine.inference import Prediction
from ocm_engine.io.mapping import ROLES, BandMappingError, FileBands, band_token, resolve_mapping
from ocm_engine.models.ensemble import Ensemble
from ocm_engine.options import InferenceOptions
from ocm_engine.outputs.geotiff import write_class_geotiff, write_probability_geotiff
from ocm_engine.provenance import BandRole, BandSource, Provenance
from ocm_engine.resolution import choose_resolution
from ocm_engine.sensors import SensorPreset, get_sensor
from ocm_engine.types import GridInfo
from ocm_engine.xarray_lazy import GridSpec, ModelSpec, lazy_predict, predict_in_memory, with_options

__all__ = ["OcmDataArrayAccessor", "OcmDatasetAccessor", "compute", "predict_dataarray", "to_raster"]

_EARTH_M_PER_DEG = 111_320.0
_ROLES: tuple[BandRole, ...] = ("red", "green", "nir", "blue")
BandKey = str | int | None
_REGISTER_DATAARRAY: Any = xr.register_dataarray_accessor
_REGISTER_DATASET: Any = xr.register_dataset_accessor


def _python(advice: str) -> Hints:
    """Advice for Python callers only: the command line and the app never hand xarray objects in."""
    return Hints(python=advice, cli="", app="")


_BANDS_HINT = _python("Pass bands=(red, green, nir[, blue]) as names of the band coordinate or 0-based positions, "
                      "or a sensor preset (sensor=).")


def _dims_text(obj: xr.DataArray | xr.Dataset) -> str:
    return "(" + ", ".join(f"{d}: {n}" for d, n in obj.sizes.items()) + ")"


def _spatial_dims(obj: xr.DataArray | xr.Dataset) -> tuple[Hashable, Hashable]:
    """The ``(y, x)`` dimension names (``y``/``x``, ``lat``/``lon``... as rioxarray finds them)."""
    try:
        return obj.rio.y_dim, obj.rio.x_dim
    except Exception as err:  # rioxarray raises its own MissingSpatialDimensionError
        raise InvalidImageError(
            "Spatial dimensions", arrived=_dims_text(obj), expected="dimensions named y and x (or latitude/longitude)",
            hints=_python("Rename them (da.rename(rows='y', cols='x')) or set them with da.rio.set_spatial_dims(...)."),
        ) from err


def _stack(obj: xr.DataArray | xr.Dataset, band_dim: str) -> tuple[xr.DataArray, list[object]]:
    """A ``([time,] band, y, x)`` DataArray of the input, and the band labels to match."""
    if isinstance(obj, xr.Dataset):
        y_dim, x_dim = _spatial_dims(obj)
        names = [name for name, var in obj.data_vars.items() if {y_dim, x_dim} <= set(var.dims)]
        if not names:
            raise InvalidImageError(
                "Dataset variables", arrived=[str(n) for n in obj.data_vars],
                expected=f"a variable with dimensions ({y_dim}, {x_dim})",
                hints=_python("Pass a Dataset with one (time, y, x) variable per band."),
            )
        arrays = [obj[name] for name in names]
        da = xr.concat(arrays, dim=band_dim, coords="minimal", compat="override", join="override")
        da = da.assign_coords({band_dim: [str(n) for n in names]})
        if obj.rio.crs is not None and da.rio.crs is None:
            da = da.rio.write_crs(obj.rio.crs)
        return da, [str(n) for n in names]
    if not isinstance(obj, xr.DataArray):
        raise InvalidImageError(
            "Input", arrived=type(obj).__name__, expected="an xarray DataArray or Dataset",
            hints=_python("Wrap numpy arrays with xr.DataArray(array, dims=('band', 'y', 'x')) or use "
                          "ocm_engine.predict_array."),
        )
    y_dim, x_dim = _spatial_dims(obj)
    if band_dim not in obj.dims:
        raise InvalidImageError(
            "Input dimensions", arrived=_dims_text(obj),
            expected=f"a {band_dim!r} dimension: (band, y, x) or (time, band, y, x)",
            hints=_python("For one variable per band pass a Dataset; for another band dimension name pass "
                          "band_dim=...; the models need Red, Green and NIR."),
        )
    others = [d for d in obj.dims if d not in (band_dim, y_dim, x_dim)]
    if len(others) > 1:
        raise InvalidImageError(
            "Input dimensions", arrived=_dims_text(obj), expected="(band, y, x) or (time, band, y, x)",
            hints=_python(f"Select or stack the extra dimensions first (da.isel({others[-1]}=0))."),
        )
    labels = list(obj[band_dim].values) if band_dim in obj.coords else list(range(obj.sizes[band_dim]))
    return obj, labels


def _name(label: object) -> str:
    """A band label as a name, or ``""`` for none (rioxarray numbers its bands 1, 2, ...)."""
    return label.strip() if isinstance(label, str) and not label.strip().isdigit() else ""


def _band_facts(labels: Sequence[object], extra: Sequence[Sequence[object]] = (), name: str = "the input") -> FileBands:
    """What a band coordinate says about its bands, for :func:`~ocm_engine.io.mapping.resolve_mapping`.

    Args:
        labels: The band coordinate's values (names, or 1-based numbers from rioxarray: unnamed).
        extra: Other per-band label sets (stackstac's ``common_name``...): the first name found
            per band is its common name.
        name: How messages name the input.

    Returns:
        One :class:`~ocm_engine.io.mapping.FileBands` (descriptions: the labels that are names).
    """
    common = [next((n for n in (_name(e[i]) for e in extra if i < len(e)) if n), "") for i in range(len(labels))]
    return FileBands(name, len(labels), tuple(_name(label) for label in labels), common_names=tuple(common))


def resolve_bands(labels: Sequence[object], *, sensor: SensorPreset | None = None,
                  bands: Sequence[BandKey] | None = None, extra: Sequence[Sequence[object]] = (),
                  name: str = "the input") -> tuple[int, int, int | None, int | None]:
    """0-based positions of Red, Green, NIR and Blue along the band dimension.

    Which band is which is decided by :func:`~ocm_engine.io.mapping.resolve_mapping`, as for
    files (band names, then the preset's positions, then a guess with a
    :class:`~ocm_engine.io.mapping.BandGuessWarning`); only the lookup of ``bands=`` keys
    (names of the band coordinate or 0-based positions) is xarray's own.

    Args:
        labels: The band coordinate's values (names, or 1-based numbers from rioxarray).
        sensor: A preset: its band names (``B04``...) are matched first, then the common names;
            for unnamed bands its 1-based positions are used.
        bands: Explicit Red, Green, NIR[, Blue]: names of the band coordinate (or of ``extra``)
            or 0-based positions (NIR and Blue may be ``None``).
        extra: Other per-band label sets to match names in (e.g. stackstac's ``common_name``).
        name: How messages name the input.

    Returns:
        Red, Green, NIR (``None``: absent) and Blue (``None``: absent) positions.

    Raises:
        BandMismatchError: A band that is not there, or a mapping that does not fit; fields
            ``subject``/``arrived``/``expected`` (``reason``/``role``/``asked`` for a position
            beyond the last band), advice in xarray's terms.
    """
    numbers = None if bands is None else _key_numbers(bands, labels, extra)
    try:
        resolved = resolve_mapping([_band_facts(labels, extra, name)], sensor=sensor, bands=numbers)
    except BandMismatchError as err:
        raise _in_xarray_terms(err, len(labels)) from err
    for warning in resolved.warnings:
        emit(warning, stacklevel=2)
    red, green, nir, blue = (None if ref is None else ref.band - 1 for ref in resolved.refs)
    assert red is not None and green is not None  # the resolver requires them
    return red, green, nir, blue


def _key_numbers(bands: Sequence[BandKey], labels: Sequence[object],
                 extra: Sequence[Sequence[object]]) -> list[int | None]:
    """``bands=`` keys (names or 0-based positions) as 1-based numbers; the resolver checks the range."""
    if not 3 <= len(bands) <= 4:
        shown = ", ".join(repr(str(label)) for label in labels)
        raise BandMismatchError(
            "bands=", arrived=list(bands), expected=f"Red, Green, NIR[, Blue] of the input's bands [{shown}]",
            hints=_BANDS_HINT,
        )
    return [None if key is None else _key_position(key, role, labels, extra) + 1
            for role, key in zip(ROLES, bands, strict=False)]


def _key_position(key: BandKey, role: str, labels: Sequence[object], extra: Sequence[Sequence[object]]) -> int:
    """The 0-based position a key names: an integer as it is (range checked later), a name looked up."""
    if isinstance(key, bool) or key is None:
        raise BandMismatchError(f"{role} band", arrived=key, expected="a band name or a 0-based position",
                                hints=_BANDS_HINT)
    if isinstance(key, int | np.integer):
        return int(key)
    want = band_token(str(key))
    for names in (labels, *extra):
        tokens = [band_token(str(label)) for label in names]
        if want in tokens:
            return tokens.index(want)
    shown = ", ".join(repr(str(label)) for label in labels)
    raise BandMismatchError(f"{role} band", arrived=key, expected=f"one of the input's bands [{shown}]",
                            hints=_BANDS_HINT)


def _in_xarray_terms(err: BandMismatchError, count: int) -> BandMismatchError:
    """The resolver's error with xarray's advice: ``bands=`` takes names or 0-based positions."""
    if err.reason == "required":
        return BandMismatchError(reason="required", role=err.role)
    if err.role is not None and err.asked is not None:  # a position beyond the last band (or under 0)
        return BandMismatchError(reason="out_of_range", role=err.role, asked=err.asked - err.base, available=count)
    presets = err.presets if isinstance(err, BandMappingError) else ()
    numbers = list(err.suggestion or ()) if isinstance(err, BandMappingError) else []
    while numbers and numbers[-1] is None:
        numbers.pop()
    options = [f"sensor={key!r}" for key in presets[:3]]
    options.append(f"bands={tuple(None if n is None else n - 1 for n in numbers)!r}" if numbers
                   else "bands=('red', 'green', 'nir')")
    return BandMismatchError(
        err.subject, arrived=err.arrived, expected=err.expected,
        hints=_python(f"Pass {' or '.join(options)}: bands= takes names of the band coordinate or 0-based "
                      "positions (Red, Green, NIR[, Blue]); sensor= a preset key (ocm sensors)."),
    )


def _resolution_m(transform: Any, crs: Any, height: int) -> float:
    xres = abs(transform.a)
    if crs is None:
        return float("nan")
    if crs.is_geographic:
        lat = transform.f + transform.e * height / 2
        return float(xres * _EARTH_M_PER_DEG * max(math.cos(math.radians(lat)), 0.01))
    return float(xres * float(crs.linear_units_factor[1]))


def _nodata(da: xr.DataArray, nodata: float | None, preset: SensorPreset | None) -> float | None:
    if nodata is not None:
        return float(nodata)
    for value in (da.rio.nodata, da.rio.encoded_nodata, da.attrs.get("_FillValue"), da.attrs.get("nodata")):
        if value is not None:
            number = float(value)
            return None if math.isnan(number) else number
    if preset is not None:
        return preset.nodata
    return 0.0


def _grid(da: xr.DataArray, positions: tuple[int, int, int | None, int | None], labels: Sequence[object],
          preset: SensorPreset | None, nodata: float | None, resolution_m: float | None, name: str) -> GridSpec:
    y_dim, x_dim = _spatial_dims(da)
    height, width = int(da.sizes[y_dim]), int(da.sizes[x_dim])
    crs = da.rio.crs
    try:
        transform = da.rio.transform(recalc=True)
    except Exception as err:  # rioxarray: coordinates that are not a regular grid
        raise InvalidImageError(
            f"Coordinates {y_dim}/{x_dim}", arrived=f"no affine transform ({err})", expected="a regular grid",
            hints=_python("Write one with da.rio.write_transform(...)."),
        ) from err
    if crs is None:
        if resolution_m is not None:
            raise ResolutionError("no_crs", resolution_m)
        emit(
            "The input has no CRS (da.rio.crs is None): the result has none either. Write one with "
            "da.rio.write_crs(...).", MissingCrsWarning, stacklevel=4,
        )
    source_m = _resolution_m(transform, crs, height)
    chosen = choose_resolution(source_m, resolution_m)
    sources = []
    for role, pos in zip(_ROLES, positions, strict=True):
        if pos is not None:
            sources.append(BandSource(role, name, pos + 1, str(labels[pos])))
    return GridSpec(height, width, transform, crs, _nodata(da, nodata, preset), source_m, chosen,
                    tuple(sources), preset.key if preset else None, name)


def _model_spec(ensemble: ModelSpec, model: str | Path | None) -> ModelSpec:
    if ensemble is not None and model is not None:
        raise InvalidImageError("Model arguments", arrived="both ensemble= and model=",
                                expected="one of ensemble= (loaded models) or model= (a weights source)")
    return ensemble if ensemble is not None else (model if model is not None else None)


def _describe(spec: ModelSpec) -> str:
    if isinstance(spec, Ensemble):
        return f"{spec.source} ({', '.join(spec.names)})"
    return str(spec or "default")


def _attrs(grid: GridSpec, opts: InferenceOptions, spec: ModelSpec, pred: Prediction | None,
           scale: dict[str, float], lazy: bool) -> dict[str, Any]:
    """The run's provenance as flat ``ocm_*`` attributes (text and numbers, netCDF-safe)."""
    model = pred.model if pred is not None else _describe(spec)
    version = pred.run.model_version if pred is not None else (
        spec.version if isinstance(spec, Ensemble) else "")
    prov = Provenance(grid.bands, grid.sensor, grid.source_resolution_m, grid.resolution_m).with_model(model, version)
    facts: dict[str, object] = {"model": model, "source": grid.name, "software": "ocm_engine", **prov.as_tags()}
    if pred is not None:
        facts.update({k: v for k, v in pred.run.as_text().items() if k != "model_version"})
    if isinstance(spec, Ensemble):
        for key, value in spec.metadata.items():
            if "sha" in key.lower() or "digest" in key.lower():
                facts[f"weights_{key}"] = value
    attrs: dict[str, Any] = {f"ocm_{k}": str(v) for k, v in facts.items()}
    attrs["ocm_options"] = json.dumps(opts.as_dict(), default=str)
    attrs["ocm_lazy"] = str(lazy)
    attrs.update({f"ocm_input_{key}": value for key, value in scale.items()})
    return attrs


def _class_attrs() -> dict[str, Any]:
    return {
        "long_name": "cloud mask",
        "flag_values": list(range(NUM_CLASSES)),
        "flag_meanings": " ".join(CLASS_NAMES),
        "class_names": list(CLASS_NAMES),
        "class_labels": list(CLASS_LABELS),
        "class_colours": ["#{:02x}{:02x}{:02x}".format(*c[:3]) for c in CLASS_COLOURS],
        "nodata": OUTPUT_NODATA,
    }


def _time_slices(da: xr.DataArray, band_dim: str) -> Iterator[tuple[dict[Hashable, int], xr.DataArray]]:
    y_dim, x_dim = _spatial_dims(da)
    others = [d for d in da.dims if d not in (band_dim, y_dim, x_dim)]
    if not others:
        yield {}, da
        return
    dim = others[0]
    for i in range(da.sizes[dim]):
        yield {dim: i}, da.isel({dim: i})


def predict_dataarray(
    data: xr.DataArray | xr.Dataset,
    *,
    sensor: str | SensorPreset | None = None,
    bands: Sequence[BandKey] | None = None,
    nodata: float | None = None,
    resolution_m: float | None = None,
    ensemble: Ensemble | None = None,
    model: str | Path | None = None,
    options: InferenceOptions | None = None,
    probabilities: bool = False,
    lazy: bool | None = None,
    block_px: int = 4096,
    band_dim: str = "band",
) -> xr.Dataset:
    """Mask clouds and shadows in a DataArray or Dataset; the result is a Dataset on its grid.

    Args:
        data: ``(band, y, x)`` or ``(time, band, y, x)`` DataArray, or a Dataset with one
            ``(y, x)``/``(time, y, x)`` variable per band, georeferenced by rioxarray.
        sensor: Sensor preset key (``ocm sensors``): its band names (``B04``...) and, for
            unnamed bands, its 1-based positions; its nodata when the input has none.
        bands: Red, Green, NIR[, Blue] as band names or 0-based positions (NIR may be ``None``:
            zeros, lower accuracy). Default: as files are resolved (band names, the preset's
            positions, else a guess that warns with a ``BandGuessWarning``).
        nodata: Nodata value (default: ``da.rio.nodata``, else the preset's, else 0; NaN always is).
        resolution_m: Inference resolution in metres (default: the input's, at least 10 m);
            the result comes back on the input grid.
        ensemble: Loaded models (default: the embedded ensemble).
        model: Instead of ``ensemble``: a weights source (``"default"``, a folder) loaded once per
            process; use it on a distributed cluster so workers load their own copy.
        options: Patch, overlap, batch, device, dtype, TTA (see :class:`InferenceOptions`).
        probabilities: Also return ``probabilities`` with a ``class`` dimension.
        lazy: Build a Dask graph instead of computing (default: when the input is Dask-backed).
        block_px: Output block side (inference pixels) of the lazy graph, rounded to patch starts.
        band_dim: Name of the band dimension of a DataArray.

    Returns:
        A Dataset with ``classes`` (uint8, 255 nodata; class names and colours in attrs) and
        optionally ``probabilities`` (float32, NaN nodata), the input's coordinates and CRS, and
        the run's provenance (``ocm_*`` attrs).

    Raises:
        InvalidImageError: Not an xarray object, wrong dimensions, no regular grid, under 32 px.
        BandMismatchError: A band that the input does not have.
        ResolutionError: A resolution that needs a CRS the input lacks, or is impossible.
        NoValidDataError: (in-memory) every pixel is nodata.
    """
    preset = get_sensor(sensor) if isinstance(sensor, str) else sensor
    stack, labels = _stack(data, band_dim)
    extra = [list(stack.coords[c].values) for c in ("common_name", "eo:common_name", "long_name")
             if c in stack.coords and stack.coords[c].dims == (band_dim,)]
    name = str(data.name) if isinstance(data, xr.DataArray) and data.name is not None else "xarray"
    shown = f"the input {data.name!r}" if isinstance(data, xr.DataArray) and data.name is not None else "the input"
    positions = resolve_bands(labels, sensor=preset, bands=bands, extra=extra, name=shown)
    grid = _grid(stack, positions, labels, preset, nodata, resolution_m, name)
    opts = with_options(options, probabilities)
    spec = _model_spec(ensemble, model)
    chunked = stack.chunks is not None
    use_lazy = chunked if lazy is None else lazy
    scale = {k: float(stack.attrs[k]) for k in ("scale_factor", "add_offset") if k in stack.attrs}
    y_dim, x_dim = _spatial_dims(stack)
    red, green, nir, _blue = positions
    results: list[tuple[Any, Any]] = []
    last: Prediction | None = None
    for _, frame in _time_slices(stack, band_dim):
        chosen = [red, green] + ([nir] if nir is not None else [])
        picked = frame.isel({band_dim: chosen}).transpose(band_dim, y_dim, x_dim)
        array = picked.data
        if use_lazy:
            dsa: Any = importlib.import_module("dask.array")
            array = array if chunked else dsa.from_array(array)
            if nir is None:
                array = dsa.concatenate([array, dsa.zeros_like(array[:1])])
            results.append(lazy_predict(array, grid, spec, opts, block_px))
        else:
            host = np.asarray(array)
            if nir is None:
                host = np.concatenate([host, np.zeros_like(host[:1])])
            classes, probs, last = predict_in_memory(host, grid, spec, opts)
            results.append((classes, probs))
    return _dataset(stack, band_dim, results, opts, grid, spec, last, scale, use_lazy)


def _dataset(stack: xr.DataArray, band_dim: str, results: list[tuple[Any, Any]], opts: InferenceOptions,
             grid: GridSpec, spec: ModelSpec, pred: Prediction | None, scale: dict[str, float],
             lazy: bool) -> xr.Dataset:
    y_dim, x_dim = _spatial_dims(stack)
    others = [d for d in stack.dims if d not in (band_dim, y_dim, x_dim)]
    coords = {k: v for k, v in stack.coords.items() if band_dim not in v.dims}
    if lazy:
        stack_fn: Any = importlib.import_module("dask.array").stack
    else:
        stack_fn = np.stack
    classes = results[0][0] if not others else stack_fn([r[0] for r in results])
    dims = (*others, y_dim, x_dim)
    variables: dict[str, Any] = {"classes": (dims, classes, _class_attrs())}
    if opts.return_probabilities:
        probs = results[0][1] if not others else stack_fn([r[1] for r in results])
        variables["probabilities"] = ((*others, "class", y_dim, x_dim), probs,
                                      {"long_name": "class probability", "units": "1"})
        coords["class"] = list(CLASS_NAMES)
    ds = xr.Dataset(variables, coords=coords,
                    attrs=_attrs(grid, opts, spec, pred if not lazy else None, scale, lazy))
    ds["classes"] = ds["classes"].rio.write_nodata(OUTPUT_NODATA, encoded=False)
    if "probabilities" in ds:
        ds["probabilities"] = ds["probabilities"].rio.write_nodata(np.nan, encoded=False)
    if grid.crs is not None:
        ds = ds.rio.write_crs(grid.crs)
    result: xr.Dataset = ds.rio.write_transform(grid.transform)
    return result


def _tags(ds: xr.Dataset) -> dict[str, str]:
    return {k.removeprefix("ocm_"): str(v) for k, v in ds.attrs.items()
            if k.startswith("ocm_") and k not in ("ocm_options", "ocm_lazy") and not k.startswith("ocm_input_")}


def to_raster(ds: xr.Dataset, path: str | Path, *, probabilities_path: str | Path | None = None,
              overwrite: bool = False) -> Path:
    """Write a prediction Dataset as the class GeoTIFF ``ocm predict`` writes (colour table, tags).

    Uses the engine's own writer (atomic). A lazy Dataset is computed here.

    Args:
        ds: The Dataset :func:`predict_dataarray` returned (one time step: ``ds.isel(time=0)``).
        path: The class GeoTIFF to write.
        probabilities_path: Also write the 4-band float32 probability GeoTIFF there.
        overwrite: Replace existing files.

    Returns:
        ``path``.

    Raises:
        InvalidImageError: Not a prediction Dataset, or more than one time step.
        OutputExistsError: The file exists and ``overwrite`` is False.
    """
    if not isinstance(ds, xr.Dataset) or "classes" not in ds:
        raise InvalidImageError(
            "Prediction Dataset",
            arrived=f"{type(ds).__name__}{' with ' + str(list(ds.data_vars)) if isinstance(ds, xr.Dataset) else ''}",
            expected="the Dataset predict_dataarray returns (with a 'classes' variable)",
        )
    classes = ds["classes"]
    if classes.ndim != 2:
        extra = [d for d in classes.dims if d not in classes.dims[-2:]]
        raise InvalidImageError(
            "Class map dimensions", arrived=_dims_text(classes), expected="one class map (y, x) per GeoTIFF",
            hints=_python(f"Select one step first, e.g. ds.isel({extra[0]}=0).ocm.to_raster(...)."),
        )
    values = np.asarray(classes.values, dtype=np.uint8)
    valid = values != OUTPUT_NODATA
    height, width = values.shape
    grid = GridInfo(width, height, ds.rio.transform(recalc=True), ds.rio.crs)
    target = Path(path)
    write_class_geotiff(target, np.where(valid, values, 0).astype(np.uint8), valid, grid, _tags(ds),
                        overwrite=overwrite)
    if probabilities_path is not None:
        if "probabilities" not in ds:
            raise InvalidImageError("Prediction Dataset", arrived=[str(n) for n in ds.data_vars],
                                    expected="a 'probabilities' variable",
                                    hints=_python("Predict with probabilities=True."))
        probs = np.asarray(ds["probabilities"].transpose("class", *classes.dims).values, dtype=np.float32)
        write_probability_geotiff(Path(probabilities_path), probs, valid, grid, overwrite=overwrite)
    return target


def compute(ds: xr.Dataset, scheduler: Any = None, n_workers: int | None = None) -> xr.Dataset:
    """Compute a lazy prediction on Dask distributed, the way ``ocm batch`` runs.

    Args:
        ds: A lazy Dataset from :func:`predict_dataarray`.
        scheduler: ``None`` (a ``LocalCluster``, one process per worker), a scheduler address such
            as ``"tcp://10.0.0.5:8786"``, or a ``distributed.Client``.
        n_workers: Workers of the local cluster (``None``: sized as ``ocm batch`` sizes it).

    Returns:
        The computed Dataset.

    Raises:
        BatchError: No Dask distributed, or an unreachable scheduler.
    """
    from ocm_engine.batch.runner import _connect

    with _connect(scheduler, n_workers, None, n_scenes=max(1, n_workers or 1)) as (client, _threads):
        done: xr.Dataset = client.compute(ds).result()
    return done


@_REGISTER_DATAARRAY("ocm")
class OcmDataArrayAccessor:
    """``da.ocm``: cloud masks of a DataArray (a thin door to :func:`predict_dataarray`)."""

    def __init__(self, obj: xr.DataArray) -> None:
        """Keep the DataArray (no other state)."""
        self._obj = obj

    def predict(self, **kwargs: Any) -> xr.Dataset:
        """``predict_dataarray(da, **kwargs)``."""
        return predict_dataarray(self._obj, **kwargs)


@_REGISTER_DATASET("ocm")
class OcmDatasetAccessor:
    """``ds.ocm``: predict a Dataset of bands, or write a prediction Dataset as a GeoTIFF."""

    def __init__(self, obj: xr.Dataset) -> None:
        """Keep the Dataset (no other state)."""
        self._obj = obj

    def predict(self, **kwargs: Any) -> xr.Dataset:
        """``predict_dataarray(ds, **kwargs)`` for a Dataset with one variable per band."""
        return predict_dataarray(self._obj, **kwargs)

    def to_raster(self, path: str | Path, **kwargs: Any) -> Path:
        """``to_raster(ds, path, **kwargs)``."""
        return to_raster(self._obj, path, **kwargs)
