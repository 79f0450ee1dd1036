"""Engine errors carry fields; each front end gets its own advice; they survive pickling (batch workers)."""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from ocm_engine import errors
from ocm_engine.inference import select_bands
from ocm_engine.io.mapping import BandMapping, BandMappingError
from ocm_engine.resolution import choose_resolution
from ocm_engine.sensors import get_sensor
from ocm_engine.stac.http import request_error

_PYTHON_ARG = re.compile(r"\b[a-z_]+=")


def _samples() -> list[errors.OcmError]:
    return [
        errors.ResolutionError("too_coarse", 60.0, 10.0),
        errors.ResolutionError("not_positive", -5.0),
        errors.ResolutionError("too_large", 10.0, 10.0, size_px=(9000, 9000), limit_px=40_000_000),
        errors.OutputExistsError("/out/a_ocm.tif"),
        errors.OutputExistsError("/out/a_ocm.tif", incomplete=["a_ocm.tif"], report_name="a_ocm.json"),
        errors.UnknownSensorError("sentinel3", ["sentinel2_l2a"]),
        errors.UnknownSensorError("nope", ["earth_search"], kind="catalog preset"),
        errors.StacBandError("S2A", ["nir"], {"red": ["red"]}),
        errors.LabelSchemeError([0, 128, 255], ["cloudsen12", "four_class"]),
        request_error(errors.CatalogError, "https://stac.example/x?sig=s", kind="timeout", timeout_s=5),
        request_error(errors.AssetReadError, "https://cog.example/b04.tif", status=404, kind="status"),
        BandMappingError("Band count of a.tif", arrived=2, expected="at least 3 (Red, Green, NIR)",
                         presets=["sentinel2_l2a"], suggestion=(1, 2, None)),
        errors.BandMismatchError(reason="out_of_range", role="NIR", asked=5, available=4),
        errors.BandMismatchError(reason="required", role="Red"),
    ]


@pytest.mark.parametrize("err", _samples(), ids=lambda e: type(e).__name__)
def test_each_front_end_gets_its_own_words(err: errors.OcmError) -> None:
    app = err.describe("app")
    assert "--" not in app and not _PYTHON_ARG.search(app), app
    assert not _PYTHON_ARG.search(err.hint("cli")), err.hint("cli")
    assert str(err) == err.describe("python") and err.problem in app
    assert "\n" not in str(err)


@pytest.mark.parametrize("err", _samples(), ids=lambda e: type(e).__name__)
def test_errors_pickle_with_their_fields(err: errors.OcmError) -> None:
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and str(back) == str(err) and repr(vars(back)) == repr(vars(err))
    assert back.describe("cli") == err.describe("cli")


def test_fields_from_real_calls() -> None:
    with pytest.raises(errors.BandMismatchError) as beyond:
        select_bands(np.zeros((3, 8, 8), np.float32), (0, 1, 5))
    assert (beyond.value.reason, beyond.value.role, beyond.value.asked, beyond.value.available) == (
        "out_of_range", "NIR", 5, 3)
    assert "0..2" in beyond.value.problem and "--bands" in beyond.value.hint("cli")
    with pytest.raises(errors.BandMismatchError) as no_red:
        BandMapping(None, 2, 3)  # type: ignore[arg-type]
    assert (no_red.value.reason, no_red.value.role) == ("required", "Red")
    with pytest.raises(errors.ResolutionError) as finer:
        choose_resolution(30.0, 10.0)
    assert (finer.value.reason, finer.value.asked_m, finer.value.source_m) == ("upsample", 10.0, 30.0)
    assert (finer.value.low_m, finer.value.high_m) == (5.0, 50.0)
    with pytest.raises(errors.UnknownSensorError) as unknown:
        get_sensor("sentinel3")
    assert str(unknown.value).startswith("Unknown sensor 'sentinel3'")  # no KeyError quotes
    assert errors.one_line(unknown.value, frontend="cli").endswith(unknown.value.hint("cli"))


def test_a_raise_site_gives_fields_and_the_message_is_built_from_them() -> None:
    err = errors.InvalidImageError("Image array", arrived=(10, 10), expected="(bands, height, width)")
    assert (err.subject, err.arrived, err.expected) == ("Image array", (10, 10), "(bands, height, width)")
    built = "Image array: got (10, 10); expected (bands, height, width)."
    assert err.problem == str(err) == err.describe("cli") == built
    assert err.hint("app") == ""
    advised = errors.ModelLoadError("Device", arrived="cuda (no GPU)", expected="cpu or a visible GPU",
                                    hints=errors.Hints("Pass device='cpu'.", "Pass --device cpu.", "Choose CPU."))
    assert advised.describe("cli").endswith("Pass --device cpu.") and str(advised).endswith("Pass device='cpu'.")
    assert errors.describe(ValueError("x"), "app") == "x"
    with pytest.raises(TypeError):
        errors.SceneReadError("Could not read a.tif.")  # type: ignore[call-arg]  # a sentence is not fields


@pytest.mark.parametrize("err", _samples(), ids=lambda e: type(e).__name__)
def test_every_error_carries_subject_arrived_and_expected(err: errors.OcmError) -> None:
    assert err.subject and err.expected not in (None, "") and hasattr(err, "arrived")


_SOURCE_ROOTS = ("ocm_engine", "ocm_app", "app_pages", "bench")


def _raise_sites_passing_problem() -> list[str]:
    """Calls with ``problem=`` outside an ``__init__`` (only error classes word a message themselves)."""
    root = Path(__file__).resolve().parents[2]
    found = []
    for folder in _SOURCE_ROOTS:
        for path in sorted((root / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            inits = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
            allowed = {id(c) for f in inits for c in ast.walk(f)}
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and id(node) not in allowed
                        and any(k.arg == "problem" for k in node.keywords)):
                    found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_no_raise_site_writes_the_sentence_itself() -> None:
    assert _raise_sites_passing_problem() == []


def _error_classes() -> dict[str, type[errors.OcmError]]:
    from ocm_app.samples import UnsafePathError
    from ocm_app.server import AppServerError

    found = {name: cls for name, cls in vars(errors).items()
             if isinstance(cls, type) and issubclass(cls, errors.OcmError)}
    return {**found, "BandMappingError": BandMappingError, "UnsafePathError": UnsafePathError,
            "AppServerError": AppServerError}


def _own_fields(cls: type[errors.OcmError]) -> bool:
    """Whether the class words ``expected`` from fields of its own (its ``__init__`` does not take it)."""
    import inspect

    return "expected" not in inspect.signature(cls.__init__).parameters


def test_every_raise_site_passes_arrived_and_expected() -> None:
    """A sentence passed where the fields go fails only when that path runs: catch it here, statically."""
    root = Path(__file__).resolve().parents[2]
    classes = _error_classes()
    missing = []
    for folder in _SOURCE_ROOTS:
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.id if isinstance(node.func, ast.Name) else (
                    node.func.attr if isinstance(node.func, ast.Attribute) else "")
                cls = classes.get(name)
                if cls is None or _own_fields(cls) or any(k.arg is None for k in node.keywords):
                    continue
                given = {k.arg for k in node.keywords}
                if not ({"arrived", "expected"} <= given or "reason" in given):
                    missing.append(f"{path.relative_to(root)}:{node.lineno} {name}")
    assert missing == [], missing
