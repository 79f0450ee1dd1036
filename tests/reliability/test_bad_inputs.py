"""Every corpus case through the Python API (``open_scene``, ``predict_file``, ``predict_array``).

A case must end in its expected ``ocm_engine.errors`` class with a message that names what
arrived and how to fix it, or in a correct result: never a library exception, never a hang
(the ``deadline`` fixture fails a test that runs past its budget).
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from ocm_engine import errors, predict_array, predict_file
from ocm_engine.io.readers import open_scene
from ocm_engine.options import ReadOptions

from .corpus import CASE_IDS, CASES, OK, Case

READER_ERRORS = (errors.SceneReadError, errors.BandMismatchError, errors.UnknownSensorError)
OPEN_KWARGS = ("sensor", "bands", "nodata")


#: Python argument wording that must never reach the command line's or the app's text.
PYTHON_ARGS = re.compile(r"\b(bands|sensor|nodata|resolution_m|patch_px|overlap_px|overwrite|device|dtype)=")


def _check_message(err: BaseException, case: Case) -> None:
    message = str(err)
    assert "Traceback" not in message
    assert len(message) > 40, f"{case.name}: message too terse to act on: {message!r}"
    assert "\n" not in message.strip(), f"{case.name}: message should be one line: {message!r}"
    assert isinstance(err, errors.OcmError)
    assert err.subject and err.expected not in (None, ""), f"{case.name}: {err!r} lacks its fields"
    assert err.problem in message, f"{case.name}: the message is not built from the problem: {message!r}"
    cli, app = err.describe("cli"), err.describe("app")
    assert not PYTHON_ARGS.search(cli) and not PYTHON_ARGS.search(app), f"{case.name}: {cli!r} / {app!r}"
    assert " --" not in message and " --" not in app, f"{case.name}: a CLI flag in {message!r} / {app!r}"


def _call(fn: Any, case: Case, *args: Any, **kwargs: Any) -> tuple[Any, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    return result, caught


def _expect_error(case: Case, fn: Any, *args: Any, **kwargs: Any) -> None:
    assert isinstance(case.expect, type)
    with pytest.raises(errors.OcmError) as info:
        _call(fn, case, *args, **kwargs)
    assert isinstance(info.value, case.expect), (
        f"{case.name}: expected {case.expect.__name__}, got {type(info.value).__name__}: {info.value}"
    )
    _check_message(info.value, case)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_open_scene(case: Case, corpus: dict[str, Any]) -> None:
    """Reader-level cases fail in ``open_scene``/``read``; the others open and read cleanly."""
    kwargs = {k: v for k, v in case.kwargs.items() if k in OPEN_KWARGS}

    def open_and_read() -> np.ndarray:
        with open_scene(corpus[case.name], **kwargs) as src:
            return src.read()

    if isinstance(case.expect, type) and issubclass(case.expect, READER_ERRORS):
        _expect_error(case, open_and_read)
    else:
        image, _ = _call(open_and_read, case)
        assert image.ndim == 3 and image.shape[0] == 3


# Every case, "extreme_values_f32" included: finite values near the float32 maximum must give a
# normal result (probabilities summing to 1 below), since the on-device z-score rescales each
# channel by its largest magnitude before summing.
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_predict_file(case: Case, corpus: dict[str, Any], tiny_ensemble: Any, tmp_path: Path) -> None:
    """``predict_file`` ends in the expected error (and writes nothing), or writes valid outputs."""
    out = tmp_path / "out dir ☁"
    call = dict(ensemble=tiny_ensemble, probabilities=True, read=ReadOptions(**case.kwargs))
    if case.expect != OK:
        _expect_error(case, predict_file, corpus[case.name], out, **call)
        leftovers = list(out.glob("*")) if out.exists() else []
        assert leftovers == [], f"{case.name}: a failed run left files behind: {leftovers}"
        return
    outputs, caught = _call(predict_file, case, corpus[case.name], out, **call)
    path = outputs.path
    if case.warns is not None:
        assert any(issubclass(w.category, case.warns) for w in caught), [str(w.message) for w in caught]
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.endswith(".partial")], names
    stats = json.loads(path.with_suffix(".json").read_text())["statistics"]
    with rasterio.open(path) as ds:
        classes = ds.read(1)
        assert ds.nodata == 255
    valid = classes != 255
    assert set(np.unique(classes[valid]).tolist()) <= {0, 1, 2, 3}
    assert stats["valid_pixels"] == valid.sum() > 0
    prob_path = path.with_name(path.stem + "_probabilities.tif")
    with rasterio.open(prob_path) as ds:
        probs = ds.read()
    assert probs.shape[1:] == classes.shape
    np.testing.assert_allclose(probs[:, valid].sum(axis=0), 1.0, atol=1e-4)
    assert np.isnan(probs[:, ~valid]).all()


# predict_array: arrays that arrive broken or unusual straight from user code
def _arr(shape: tuple[int, ...], dtype: str = "float32", fill: float | None = None) -> np.ndarray:
    if fill is not None:
        return np.full(shape, fill, dtype=dtype)
    rng = np.random.default_rng(0)
    return (rng.random(shape) * 1000 + 1).astype(dtype)


ARRAY_CASES: list[tuple[str, Any, dict[str, Any], type[Exception] | str]] = [
    ("list_not_array", [[[1.0]]], {}, errors.InvalidImageError),
    ("rank_2", _arr((64, 64)), {}, errors.InvalidImageError),
    ("rank_4", _arr((1, 3, 64, 64)), {}, errors.InvalidImageError),
    ("channels_last", _arr((128, 128, 3)), {}, errors.InvalidImageError),
    ("complex64", _arr((3, 64, 64), "complex64"), {}, errors.InvalidImageError),
    ("object_dtype", np.empty((3, 64, 64), dtype=object), {}, errors.InvalidImageError),
    ("string_dtype", np.full((3, 64, 64), "a"), {}, errors.InvalidImageError),
    ("empty_bands", np.zeros((0, 64, 64), np.float32), {}, errors.BandMismatchError),
    ("empty_pixels", np.zeros((3, 0, 0), np.float32), {}, errors.ImageTooSmallError),
    ("size_1x1", _arr((3, 1, 1)), {}, errors.ImageTooSmallError),
    ("size_31x31", _arr((3, 31, 31)), {}, errors.ImageTooSmallError),
    ("two_bands", _arr((2, 64, 64)), {}, errors.BandMismatchError),
    ("bands_negative", _arr((4, 64, 64)), {"bands": (-1, 0, 1)}, errors.BandMismatchError),
    ("bands_two_entries", _arr((4, 64, 64)), {"bands": (0, 1)}, errors.BandMismatchError),
    ("all_nodata", _arr((3, 64, 64), "uint16", 0), {}, errors.NoValidDataError),
    ("all_nan", _arr((3, 64, 64), "float32", np.nan), {}, errors.NoValidDataError),
    ("all_inf", _arr((3, 64, 64), "float32", np.inf), {}, errors.NoValidDataError),
    ("patch_too_small", _arr((3, 64, 64)), {"patch_px": 8}, errors.InvalidImageError),
    ("overlap_negative", _arr((3, 64, 64)), {"overlap_px": -1}, errors.InvalidImageError),
    ("constant", _arr((3, 64, 64), "uint16", 500), {}, OK),
    ("bool", _arr((3, 64, 64)) > 500, {"nodata": None}, OK),
    ("int8", (_arr((3, 64, 64)) / 10).astype("int8"), {"nodata": None}, OK),
    ("int16_negative", _arr((3, 64, 64)).astype("int16") - 600, {}, OK),
    ("uint64", _arr((3, 64, 64)).astype("uint64"), {}, OK),
    ("float16", _arr((3, 64, 64)).astype("float16"), {}, OK),
    ("float64_huge", _arr((3, 64, 64), "float64") * 1e300, {}, OK),
    ("float32_near_max", _arr((3, 64, 64)) * np.float32(3e35), {}, OK),
    ("non_contiguous", _arr((3, 128, 128))[:, ::2, ::2], {}, OK),
    ("nir_missing", _arr((3, 64, 64)), {"bands": (0, 1, None)}, OK),
    ("size_32x32", _arr((3, 32, 32)), {}, OK),
    ("size_33x257", _arr((3, 33, 257)), {"patch_px": 64, "overlap_px": 16}, OK),
]


@pytest.mark.parametrize(("image", "kwargs", "expect"), [
    pytest.param(*c[1:], id=c[0])
    for c in ARRAY_CASES
])
def test_predict_array(image: Any, kwargs: dict[str, Any], expect: Any, tiny_ensemble: Any) -> None:
    case = Case("array", lambda f: f, expect)
    if expect != OK:
        _expect_error(case, predict_array, image, ensemble=tiny_ensemble, **kwargs)
        return
    pred, _ = _call(predict_array, case, image, ensemble=tiny_ensemble, **kwargs)
    assert pred.classes.shape == image.shape[1:] == pred.valid.shape
    assert pred.probabilities is not None and pred.probabilities.shape == (4, *image.shape[1:])
    assert np.isfinite(pred.probabilities).all()
    np.testing.assert_allclose(pred.probabilities[:, pred.valid].sum(axis=0), 1.0, atol=1e-4)
    assert (pred.probabilities[:, ~pred.valid] == 0).all()


def test_bytes_inputs(tiny_ensemble: Any, tmp_path: Path) -> None:
    """Uploaded bytes: empty, garbage and truncated uploads raise SceneReadError; nothing is written."""
    from .corpus import scene, write_tif

    good = write_tif(tmp_path / "g.tif", scene()).read_bytes()
    for data in (b"", b"\x00" * 10, good[: len(good) // 3], np.random.default_rng(0).bytes(2000)):
        with pytest.raises(errors.SceneReadError) as info:
            predict_file(data, tmp_path / "out", ensemble=tiny_ensemble)
        _check_message(info.value, Case("bytes", lambda f: f, errors.SceneReadError))
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    path = predict_file(good, tmp_path / "out", ensemble=tiny_ensemble).path
    assert path.name == "upload_ocm.tif" and path.exists()
