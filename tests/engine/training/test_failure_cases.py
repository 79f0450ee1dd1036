"""Failure-case figures and picture on hand-made scenes (exact shares) and a random member."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ocm_engine.errors import InvalidImageError
from ocm_engine.models.registry import build_member
from ocm_engine.training import CLEAR, SHADOW, THIN
from ocm_engine.training.data import PackedScene
from ocm_engine.training.failure_cases import CLIPPED_REFLECTANCE, format_cases, measure, picture, run_models
from ocm_engine.training.train import export_member


def _scene(name: str, dataset: str, image: np.ndarray, expert: np.ndarray, resolution_m: float) -> PackedScene:
    return PackedScene(name, dataset, "train", resolution_m, False, image, expert, expert, expert)


def _scenes() -> dict[str, PackedScene]:
    alberta = np.full((4, 40, 200), 0.1, np.float32)
    alberta[:, :10, :10] = 0.5  # a clipped core (visible at the ceiling, NIR > 0.3): 100 px
    island = np.full((4, 40, 40), 0.2, np.float32)
    island[2, :10] = 0.02  # dark NIR: water where the physics labels say clear
    island_expert = np.full((40, 40), CLEAR, np.uint8)
    island_expert[35:] = THIN  # cirrus rows
    held = np.full((4, 200, 100), 0.1, np.float32)
    held_expert = np.full((200, 100), CLEAR, np.uint8)
    held_expert[190:, :50] = SHADOW  # painted shadow
    return {
        "alberta_2020-06-15": _scene("alberta_2020-06-15", "alberta", alberta, np.zeros((40, 200), np.uint8), 30.0),
        "landsat8_long_island": _scene("landsat8_long_island", "landsat8", island, island_expert, 120.0),
        "s2chips_102871": _scene("s2chips_102871", "s2chips", held[:, :40, :40], np.zeros((40, 40), np.uint8), 10.0),
        "alberta_2020-07-05": _scene("alberta_2020-07-05", "alberta", held, held_expert, 30.0),
    }


def test_measure_gives_exact_shares() -> None:
    assert CLIPPED_REFLECTANCE == pytest.approx(250 / 637.5)
    scenes = _scenes()
    core = np.full((40, 200), CLEAR, np.uint8)
    core[:, :10] = 1  # cloud in columns 0-9 ...
    core[:10, :5] = CLEAR  # ... but half the clipped core is called clear
    core[39, 199] = SHADOW  # a pond: columns >= 110 are > 3 km (100 px x 30 m) from the cloud
    island = np.full((40, 40), CLEAR, np.uint8)
    island[:2] = THIN  # 80 of 400 water pixels called thin
    island[2:3] = SHADOW  # 40 called shadow
    island[35:37] = 1  # 80 of 200 cirrus pixels called cloud
    chip = np.full((40, 40), 1, np.uint8)
    chip[:, :12] = THIN  # 30 % of the cloud is thin
    held = np.full((200, 100), CLEAR, np.uint8)
    held[:2] = 1  # cloud in rows 0-1: rows >= 102 are far from it
    held[190:] = SHADOW  # 1000 px, half of them painted
    classes = {
        "alberta_2020-06-15": core,
        "landsat8_long_island": island,
        "s2chips_102871": chip,
        "alberta_2020-07-05": held,
    }
    figures = measure(scenes, classes)
    assert figures["alberta_core_clear"] == pytest.approx(0.5)
    assert figures["ponds_far_shadow_0615"] == pytest.approx(1 / (90 * 40))
    assert figures["long_island_water_thin"] == pytest.approx(0.2)
    assert figures["long_island_water_shadow"] == pytest.approx(0.1)
    assert figures["long_island_cirrus_cloud"] == pytest.approx(0.4)
    assert figures["halo_thin_share_of_cloud"] == pytest.approx(0.3)
    # Far rows 102-199 (9 800 px) less the 500 painted; 500 unpainted shadow pixels among them.
    assert figures["ponds_far_shadow_heldout"] == pytest.approx(500 / 9300)
    assert "| alberta_core_clear | 50.0 % |" in format_cases({"m": figures})
    scenes["alberta_2020-06-15"].expert[39, 199] = SHADOW  # painted: a real shadow, not a pond
    assert measure(scenes, classes)["ponds_far_shadow_0615"] == 0.0


def test_far_shadow_counts_only_unpainted_pixels() -> None:
    scenes = {k: v for k, v in _scenes().items() if k == "alberta_2020-07-05"}
    held = np.full((200, 100), CLEAR, np.uint8)
    held[190:, :] = SHADOW  # no cloud at all: every pixel is far from cloud
    figures = measure(scenes, {"alberta_2020-07-05": held})
    # 500 unpainted shadow pixels among the 20 000 - 500 unpainted ones.
    assert figures["ponds_far_shadow_heldout"] == pytest.approx(500 / 19500)
    assert set(figures) == {"ponds_far_shadow_heldout"}


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
@pytest.mark.filterwarnings("ignore::ocm_engine.errors.SmallPatchWarning")
def test_run_models_and_picture(tmp_path: Path) -> None:
    pack = tmp_path / "packed"
    pack.mkdir()
    for scene in _scenes().values():
        meta = {"name": scene.name, "dataset": scene.dataset, "split": "train", "resolution_m": scene.resolution_m}
        np.savez_compressed(
            pack / f"{scene.name}.npz", image=scene.image.astype(np.float16), label=scene.label,
            expert=scene.expert, teacher=scene.teacher, meta=np.array(json.dumps(meta)),
        )
    torch.manual_seed(0)
    weights = export_member(build_member("test_resnet"), tmp_path / "m.safetensors")
    scenes, runs = run_models([str(weights), [str(weights)]], pack)
    assert [r.model for r in runs] == [str(weights), str(weights)]
    assert set(runs[0].classes) == set(scenes) and runs[0].classes["s2chips_102871"].shape == (40, 40)
    out = picture(scenes, runs, tmp_path / "cases.png", tile_px=50)
    from PIL import Image

    with Image.open(out) as png:
        assert png.size == (150, 22 + 4 * 50)
    assert not list(tmp_path.glob("*.partial*"))
    other = tmp_path / "other"
    other.mkdir()
    meta = {"name": "ukis_x", "dataset": "ukis", "split": "train", "resolution_m": 30.0}
    blank = np.zeros((40, 40), np.uint8)
    np.savez_compressed(
        other / "ukis_x.npz", image=np.zeros((4, 40, 40), np.float16), label=blank, expert=blank,
        teacher=blank, meta=np.array(json.dumps(meta)),
    )
    with pytest.raises(InvalidImageError) as none_packed:
        run_models(["default"], other)
    assert none_packed.value.subject == f"Packed-scene folder {other}"
    assert none_packed.value.arrived == "none of the failure-case scenes"
