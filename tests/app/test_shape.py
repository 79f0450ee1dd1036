"""The app's shape (issue 11): built on the engine, with no second copy of an engine rule."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from conftest import new_app

ROOT = Path(__file__).resolve().parents[2]
APP_MODULES = sorted([*ROOT.glob("ocm_app/*.py"), *ROOT.glob("app_pages/*.py"), ROOT / "app.py"])


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", APP_MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_app_module_imports_rasterio(path: Path) -> None:
    """Reading, writing and warping go through the engine (read_scene, io.raster, geo)."""
    assert not {m for m in _imports(path) if m == "rasterio" or m.startswith("rasterio.")}


def test_no_second_copy_of_engine_rules() -> None:
    """No per-preset Blue table, band-name tokens, model loading or resolution numbers in the app."""
    text = {p.relative_to(ROOT).as_posix(): p.read_text() for p in APP_MODULES}
    for name, source in text.items():
        assert "BLUE_BAND_INDEX" not in source and "_ROLE_TOKENS" not in source, name
        assert "load_ensemble(" not in source, f"{name}: models come from the engine's one cache"
        assert "choose_resolution(" not in source and "predict_array(" not in source, name
        assert not _resolution_rules(source), f"{name}: resolution rules live in the engine"


_RESOLUTION_NUMBERS = {5, 10, 20, 30, 40, 50}
_ORDER = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def _names_a_resolution_constant(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name.endswith("RESOLUTION_M")


def _resolution_rules(source: str) -> list[str]:
    """Range checks or clamps built from resolution numbers (``10 <= r``, ``r > MAX_RESOLUTION_M``,
    ``max(int(MIN_RESOLUTION_M), ...)``): the engine's rules re-derived, whatever the spelling."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(isinstance(op, _ORDER) for op in node.ops):
            parts = [n for operand in (node.left, *node.comparators) for n in ast.walk(operand)]
            hit = any(_names_a_resolution_constant(n) or (
                isinstance(n, ast.Constant) and type(n.value) in (int, float) and n.value in _RESOLUTION_NUMBERS)
                for n in parts)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"max", "min"}:
            hit = any(_names_a_resolution_constant(n) for arg in node.args for n in ast.walk(arg))
        else:
            continue
        if hit:
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("snippet", [
    "ok = 10 <= r <= 50",
    "if r < 5.0: pass",
    "if source > MAX_RESOLUTION_M: pass",  # the app's copies the review found (widgets.py:214-220)
    "low = max(int(MIN_RESOLUTION_M), math.ceil(source - 1e-6))",
    "default = max(low, min(int(MAX_RESOLUTION_M), math.ceil(max(source, VALIDATED_RESOLUTION_M[0]))))",
    "bad = r >= constants.MIN_RESOLUTION_M",
])
def test_resolution_rule_detector_sees_each_spelling(snippet: str) -> None:
    assert _resolution_rules(snippet), snippet


@pytest.mark.parametrize("snippet", [
    "choices = resolution_choices(source_m)",
    "wait = min(0.95, waited / (waited + 10.0 * position))",
    "picks = [c for c in candidates if c in (20.0, 50.0)]",
    "if len(rows) >= 3: pass",
])
def test_resolution_rule_detector_passes_other_code(snippet: str) -> None:
    assert not _resolution_rules(snippet), snippet


@pytest.mark.parametrize("path", APP_MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_app_module_imports_training(path: Path) -> None:
    """Demo synthesis comes from ocm_engine.synthetic and "trained on" from the weights manifest
    (function-level imports count: ast.walk sees every import statement)."""
    found = _imports(path)
    assert not {m for m in found if m == "ocm_engine.training" or m.startswith("ocm_engine.training.")}
    assert "from ocm_engine import training" not in path.read_text()


def test_map_javascript_and_css_are_static_files() -> None:
    """The map's own JavaScript and CSS live in ocm_app/static/ (in git, shipped as package data)."""
    import subprocess
    import tomllib

    for path in APP_MODULES:
        source = path.read_text()
        name = path.relative_to(ROOT).as_posix()
        assert "function(" not in source and "<style>\n." not in source and "L.control(" not in source, name
    static = sorted((ROOT / "ocm_app" / "static").iterdir())
    names = {p.name for p in static}
    assert {"legend.js", "swipe.js", "view.js", "scale.js", "map.css"} <= names
    tracked = subprocess.run(["git", "ls-files", "--others", "--cached", "--exclude-standard", "ocm_app/static"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert {f"ocm_app/static/{n}" for n in names} <= set(tracked), "ignored by git: a fresh clone would lack them"
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ocm_app"]
    assert all(any(p.match(pattern) for pattern in patterns) for p in static), patterns
    from ocm_app import mapbuilder

    html = mapbuilder.scene_map([], mapbuilder.Georef((0.0, 0.0, 10.0, 10.0), None)).html
    assert "ocm-swipe-divider" in html and "window.ocmMap = map" in html  # the files reach the map


def test_compare_page_makes_one_prediction_pass(empty_samples: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every member's map comes from the ensemble's own pass (not one pass per member plus one)."""
    from ocm_app import runs

    calls: list[Any] = []
    real = runs.predict_scene

    def counting(scene: Any, ensemble: Any, options: Any, **kwargs: Any) -> Any:
        calls.append(options)
        return real(scene, ensemble, options, **kwargs)

    monkeypatch.setattr(runs, "predict_scene", counting)
    at = new_app().run()
    at.switch_page("app_pages/compare.py").run()
    at.button(key="cmp.button").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(calls) == 1 and calls[0].return_members
    stored = at.session_state["ocm.compare"]
    assert len(stored.comparison.members) == len(stored.run.prediction.member_classes) == 2  # tiny ensemble's members
