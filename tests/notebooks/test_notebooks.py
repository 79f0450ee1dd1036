"""Every teaching notebook runs top to bottom (restart and run all) on CPU with the embedded model.

Notebook 5 reads the loopback STAC catalog the STAC tests use (``OCM_STAC_URL``), so nothing is
downloaded. Slow: run with ``pytest -m slow tests/notebooks``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ALL = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def test_notebooks_are_stored_without_outputs() -> None:
    assert len(ALL) >= 5
    for name in ALL:
        book = nbformat.read(NOTEBOOKS / name, as_version=4)
        for cell in book.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{name} has stored outputs"
        assert book.cells[0].cell_type == "markdown" and "Time:" in book.cells[0].source, name


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_notebook_runs_top_to_bottom(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OCM_APP_TMP", str(tmp_path / "app_tmp"))
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    if name.startswith("05"):
        from tests.helpers.stac_corpus import build_site
        from tests.helpers.stac_server import StacServer

        monkeypatch.setenv("CPL_VSIL_CURL_NON_CACHED", "/vsicurl/http")
        with StacServer() as server:
            site = build_site(server, tmp_path / "cogs")
            monkeypatch.setenv("OCM_STAC_URL", site.api_url)
            monkeypatch.setenv("OCM_STAC_BBOX", ",".join(f"{v:.6f}" for v in site.window(0.9)))
            monkeypatch.setenv("OCM_STAC_DATES", "2024-06-01/2024-06-30")
            _run(book, name)
    else:
        _run(book, name)


def _run(book: object, name: str) -> None:
    start = time.perf_counter()
    client = nbclient.NotebookClient(book, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    print(f"{name}: {time.perf_counter() - start:.1f} s")
