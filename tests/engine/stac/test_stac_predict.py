"""ocm_engine.stac.predict and the CLI (``ocm search``, ``ocm predict`` on items, ``ocm batch`` on a search)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
import rasterio

from ocm_engine import InferenceOptions
from ocm_engine.cli import main
from ocm_engine.errors import AssetReadError, CatalogError, OcmError, StacBandError
from ocm_engine.outputs import atomic
from ocm_engine.stac import predict_item
from tests.helpers.stac_corpus import COLLECTION, Site

pytest_plugins = ("tests.helpers.stac_fixtures",)

FAST = dict(options=InferenceOptions(patch_px=64, overlap_px=16))
CLI_FAST = ["--patch", "64", "--overlap", "16", "--device", "cpu", "-q"]


def test_predict_item_writes_the_usual_outputs(stac_site: Site, tiny_ensemble: Any, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's ``stac`` section is in its first and only commit (no rewrite after the scene is
    marked complete), and the returned value carries it."""
    commits: list[tuple[str, str]] = []
    original = atomic._commit

    def record(partial: Path, path: Path, overwrite: bool) -> None:
        commits.append((path.name, partial.read_text() if path.suffix == ".json" else ""))
        original(partial, path, overwrite)

    monkeypatch.setattr(atomic, "_commit", record)
    out = predict_item(stac_site.item_url("S2A_GOOD"), tmp_path / "out", bbox=tuple(stac_site.window(0.8)),
                       ensemble=tiny_ensemble, probabilities=True, **FAST)
    names = sorted(p.name for p in out.path.parent.iterdir())
    assert names == ["S2A_GOOD_ocm.json", "S2A_GOOD_ocm.png", "S2A_GOOD_ocm.tif", "S2A_GOOD_ocm_probabilities.tif"]
    reports = [text for name, text in commits if name == "S2A_GOOD_ocm.json"]
    assert len(reports) == 1 and commits[-1][0] == "S2A_GOOD_ocm.json"  # committed once, last
    doc = json.loads(out.paths.stats.read_text())
    assert json.loads(reports[0]) == doc and doc["stac"] == out.sections[0].as_dict()
    stac = doc["stac"]
    assert stac["item"] == "S2A_GOOD" and stac["collection"] == COLLECTION and stac["catalog_cloud_percent"] == 20.0
    assert stac["assets"] == {"red": "red", "green": "green", "nir": "nir", "blue": "blue"}
    with rasterio.open(out) as ds:
        assert ds.crs.to_epsg() == 32633 and (ds.width, ds.height) == tuple(stac["window_px"])


def test_failures_leave_nothing_behind(stac_site: Site, tiny_ensemble: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(AssetReadError) as missing:
        predict_item(stac_site.item_url("S2A_MISSING"), out, ensemble=tiny_ensemble, timeout_s=2, **FAST)
    assert missing.value.status == 404
    with pytest.raises(StacBandError):
        predict_item(stac_site.item_url("S2A_NO_NIR"), out, ensemble=tiny_ensemble, **FAST)
    # the header reads fine, then the server fails in the middle of the tile reads
    route = stac_site.server.routes["/data/good/nir.tif"]
    route.fail_after = route.hits + 1
    with pytest.raises(AssetReadError) as failed:
        predict_item(stac_site.item_url("S2A_GOOD"), out, ensemble=tiny_ensemble, timeout_s=2, **FAST)
    assert (failed.value.status, failed.value.kind) == (503, "status") and failed.value.url
    assert failed.value.arrived == "HTTP 503 Service Unavailable"
    assert not out.exists() or list(out.iterdir()) == []


def test_cli_search_table(stac_site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    w, s, e, n = stac_site.window()
    code = main(["search", "--catalog", stac_site.api_url, "--collection", COLLECTION, "--bbox", f"{w},{s},{e},{n}",
                 "--dates", "2024-06-01/2024-06-30", "--max-cloud", "50", "--limit", "3"])
    out = capsys.readouterr().out
    print(out)
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].split() == ["id", "date", "cloud", "%", "platform"]
    assert lines[1].split() == ["S2A_GOOD", "2024-06-15", "20.0", "sentinel-2a"] and len(lines) == 4


def test_cli_search_errors_are_one_line(stac_server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    url = stac_server.add_bytes("/bad", b"{not json", "application/json")
    assert main(["search", "--catalog", url, "--collection", COLLECTION, "--point", "13.5,52.3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_cli_predict_item_url_and_ids(stac_site: Site, tiny_weights_dir: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    w, s, e, n = stac_site.window(0.9)
    out = tmp_path / "out"
    # an item URL and two ids of the catalog; one of them lacks NIR: reported, the others masked
    code = main(["predict", stac_site.item_url("S2A_GOOD"), "--item", "S2B_CLOUDY", "--item", "S2A_NO_NIR",
                 "--catalog", stac_site.server.root, "--collection", COLLECTION, "--bbox", f"{w},{s},{e},{n}",
                 "--resolution", "20", "-o", str(out), "--weights", str(tiny_weights_dir), *CLI_FAST])
    captured = capsys.readouterr()
    print(captured.out, captured.err)
    assert code == 1
    assert "S2A_GOOD_ocm.tif  cloud" in captured.out and "S2B_CLOUDY_ocm.tif" in captured.out
    assert "S2A_NO_NIR" in captured.err and "nir" in captured.err
    assert (out / "S2B_CLOUDY_ocm.json").exists() and not (out / "S2A_NO_NIR_ocm.tif").exists()


def test_cli_predict_item_takes_the_inference_options(stac_site: Site, tiny_weights_dir: Path, tmp_path: Path) -> None:
    w, s, e, n = stac_site.window(0.5)
    code = main(["predict", stac_site.item_url("S2A_GOOD"), "--bbox", f"{w},{s},{e},{n}", "--resolution", "20",
                 "-o", str(tmp_path), "--weights", str(tiny_weights_dir), "--tta", *CLI_FAST])
    assert code == 0
    options = json.loads((tmp_path / "S2A_GOOD_ocm.json").read_text())["run"]["options"]
    assert options["tta"] is True


def test_cli_predict_needs_something(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: Inputs: got none; expected raster files")
    assert main(["predict", "--item", "X", "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: --item: got an item id without --catalog and --collection;")
    from ocm_engine.cli.predict import split_item_inputs

    with pytest.raises(CatalogError) as no_collection:
        split_item_inputs(argparse.Namespace(inputs=[], item=["X"], catalog="https://stac.example", collection=None,
                                             bbox=None, point=None))
    assert no_collection.value.arrived == "an item id without --collection"
    with pytest.raises(OcmError) as window_of_a_file:
        split_item_inputs(argparse.Namespace(inputs=["a.tif"], item=[], catalog=None, collection=None,
                                             bbox=(1.0, 2.0, 3.0, 4.0), point=None))
    assert (window_of_a_file.value.subject, window_of_a_file.value.arrived) == (
        "--bbox/--point", "raster file input(s) (a.tif)")


def test_batch_scenes_from_a_search(stac_site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ocm_engine.cli.batch import batch_scenes

    w, s, e, n = stac_site.window(0.5)
    args = argparse.Namespace(catalog=stac_site.api_url, collection=COLLECTION, bbox=(w, s, e, n), point=None,
                              window_m=1000.0, dates="2024-06-01/2024-06-23", max_cloud=None, limit=20, timeout=2.0,
                              resolution=None, output=tmp_path / "out", stac_assets=None)
    scenes, failures = batch_scenes(args)
    assert [sc.scene_id for sc in scenes] == ["S2A_GOOD", "S2B_CLOUDY"]
    assert failures == 2  # S2A_NO_NIR (no NIR) and S2A_MISSING (404), each reported
    err = capsys.readouterr().err
    assert "S2A_NO_NIR" in err and "S2A_MISSING" in err
    with rasterio.open(scenes[0].inputs[0]) as ds:  # the window's VRT reads like any raster
        assert ds.count == 4 and ds.read(1).mean() > 0


@pytest.mark.slow
def test_cli_batch_on_a_search(stac_site: Site, tiny_weights_dir: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    w, s, e, n = stac_site.window(0.5)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        code = main(["batch", "--catalog", stac_site.api_url, "--collection", COLLECTION, "--bbox",
                     f"{w},{s},{e},{n}", "--max-cloud", "30", "--dates", "2024-06-01/2024-06-16", "-o",
                     str(tmp_path / "out"), "--weights", str(tiny_weights_dir), "--scheduler",
                     cluster.scheduler_address, *CLI_FAST])
    assert code == 0
    assert (tmp_path / "out" / "S2A_GOOD_ocm.json").exists()
