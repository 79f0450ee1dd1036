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
        assert "10 <= " not in source and "<= 50" not in source, f"{name}: resolution rules live in the engine"


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
    full, result = at.session_state["ocm.results"]["compare"]
    assert len(result.members) == len(full.prediction.member_classes) == 2  # the tiny ensemble's members
