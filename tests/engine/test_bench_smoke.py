"""CI smoke of the benchmark script: it runs, both engines agree, the JSON has its shape.

Speed is not tested here (benchmarks are not timed tests).
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("omnicloudmask")

from bench import run as bench_run


@pytest.mark.parametrize("case", ["cpu_small", "tile_geotiff"])
def test_bench_smoke_json_shape(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = bench_run.main(["--smoke", "--case", case, "--size", "128", "--threads", "1"])
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(result))
    for key in (
        "case",
        "machine",
        "load",
        "settings",
        "ours_s",
        "reference_s",
        "ratio",
        "peak_host_rss_mb",
        "input_float32_mb",
        "ours_peak_over_input_float32",
    ):
        assert key in result, key
    assert result["case"] == case
    assert result["ours_s"] > 0 and result["reference_s"] > 0 and result["ratio"] > 0
    assert set(result["peak_host_rss_mb"]) == {"ours", "reference"}
    assert result["machine"]["cpu_cores"] >= 1 and "1m" in result["load"]["before"]
    assert result["settings"]["members"] == "micro" and result["settings"]["smoke"] is True
    if case == "cpu_small":
        assert result["class_agreement"] >= 0.99


def test_bench_memory_case_runs_ours_only(capsys: pytest.CaptureFixture[str]) -> None:
    result = bench_run.main(["--smoke", "--case", "memory", "--size", "128", "--threads", "1"])
    capsys.readouterr()
    assert result["reference_s"] is None and result["ratio"] is None
    assert result["ours_peak_over_input_float32"] >= 0
