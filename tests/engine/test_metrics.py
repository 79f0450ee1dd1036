import math

import numpy as np
import pytest

from ocm_engine import metrics
from ocm_engine.constants import CLASS_NAMES


def test_statistics_keys_and_values():
    classes = np.array([[0, 1, 2, 3], [1, 1, 0, 0]], np.uint8)
    valid = np.array([[True, True, True, True], [True, True, False, False]])
    stats = metrics.class_statistics(classes, valid)
    assert stats.counts == (1, 3, 1, 1)
    assert stats.valid_pixels == 6 and stats.pixels == 8
    assert list(stats.percentages) == list(CLASS_NAMES)
    assert stats.percentages["thick_cloud"] == 50.0
    assert stats.cloud_percent == pytest.approx(100 * 4 / 6)
    assert stats.nodata_percent == 25.0
    flat = stats.as_dict()
    assert flat["valid_pixels"] == 6 and isinstance(flat["valid_pixels"], int)
    assert flat["clear_percent"] == pytest.approx(100 / 6)
    assert set(flat) == {f"{n}_percent" for n in CLASS_NAMES} | {"cloud_percent", "nodata_percent", "valid_pixels"}


def test_statistics_sum_of_blocks_equals_whole():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 4, (20, 20)).astype(np.uint8)
    valid = rng.random((20, 20)) > 0.3
    whole = metrics.class_statistics(classes, valid)
    parts = metrics.class_statistics(classes[:7], valid[:7]) + metrics.class_statistics(classes[7:], valid[7:])
    assert parts == whole


def test_no_valid_pixels():
    stats = metrics.class_statistics(np.zeros((2, 2), np.uint8), np.zeros((2, 2), bool))
    assert stats.cloud_percent == 0.0 and stats.nodata_percent == 100.0


def test_confusion_and_scores():
    ref = np.array([0, 0, 1, 1, 2, -1])
    pred = np.array([0, 1, 1, 1, 0, 2])
    cm = metrics.confusion_matrix(ref, pred, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    scores = metrics.scores_from_confusion(cm, ("a", "b", "c"))
    b = scores.score("b")
    assert (b.precision, b.recall, b.support) == (2 / 3, 1.0, 2)
    assert b.f1 == pytest.approx(0.8) and b.iou == pytest.approx(2 / 3)
    assert math.isnan(scores.score("c").precision)
    assert scores.overall_accuracy == 3 / 5
    assert scores.balanced_accuracy == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    with pytest.raises(KeyError):
        scores.score("d")


def test_agreement_of_different_maps():
    valid = np.array([True, True, True, False])
    a = np.array([0, 1, 2, 3], np.uint8)
    b = np.array([0, 2, 2, 0], np.uint8)
    assert metrics.agreement(a, b, valid) == pytest.approx(200 / 3)
    assert metrics.agreement(a, a, valid) == 100.0
    assert metrics.cloud_agreement(a, b, valid) == 100.0  # thick/thin swap only
    assert metrics.iou(a, b, valid, 2) == 50.0
    assert math.isnan(metrics.iou(a, b, valid, 3))
    assert metrics.compare(b, a, valid).overall_accuracy == pytest.approx(2 / 3)
    assert math.isnan(metrics.agreement(a, b, np.zeros(4, bool)))


def test_entropy_is_normalised() -> None:
    from ocm_engine.metrics import entropy

    probs = np.zeros((4, 2, 2), np.float32)
    probs[0] = 1.0
    probs[:, 1, 1] = 0.25
    ent = entropy(probs, np.ones((2, 2), bool))
    assert ent[0, 0] == pytest.approx(0, abs=1e-6) and ent[1, 1] == pytest.approx(1, abs=1e-5)
