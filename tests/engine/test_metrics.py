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
    with pytest.raises(KeyError) as unknown:  # an UnknownClassError, which is a KeyError
        scores.score("d")
    assert (unknown.value.arrived, unknown.value.expected) == ("d", ("a", "b", "c"))


def test_agreement_of_different_maps():
    valid = np.array([True, True, True, False])
    a = np.array([0, 1, 2, 3], np.uint8)
    b = np.array([0, 2, 2, 0], np.uint8)
    assert metrics.agreement(a, b, valid) == pytest.approx(200 / 3)
    same_where_invalid = np.array([0, 0, 0, 3], np.uint8)  # agrees with a on one valid pixel and the invalid one
    assert metrics.agreement(a, same_where_invalid, valid) == pytest.approx(100 / 3)  # the invalid one never counts
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


def _oncloudn_case() -> tuple[np.ndarray, np.ndarray]:
    """An On Cloud N-like label (0 not cloud, 1 cloud) and a prediction that is right in its scheme."""
    label = np.array([[0, 0, 1, 1, 1, 0, 0, 1]], np.uint8)
    pred = np.array([[0, 3, 1, 2, 1, 0, 3, 2]], np.uint8)  # thin cloud is cloud; shadow is not cloud
    return label, pred


def test_compare_scores_a_two_class_label_in_its_own_scheme() -> None:
    label, pred = _oncloudn_case()
    scores = metrics.compare(pred, label, scheme="oncloudn")
    assert scores.classes == ("not_cloud", "cloud")
    assert scores.score("cloud").f1 == 1.0 and scores.overall_accuracy == 1.0
    assert scores.confusion.tolist() == [[4, 0], [0, 4]]
    # the same pixels through 38-Cloud's encoding (255 = cloud) score the same
    assert metrics.compare(pred, np.where(label == 1, 255, 0), scheme="38cloud").overall_accuracy == 1.0
    ukis = metrics.compare(pred, np.array([[1, 0, 4, 4, 4, 3, 0, 4]]), scheme="ukis")
    assert ukis.classes == ("clear", "cloud", "shadow") and ukis.overall_accuracy == 1.0


def test_compare_does_not_score_a_two_class_label_as_four_classes_silently() -> None:
    from ocm_engine.errors import LabelSchemeError, LabelSchemeWarning, UnknownLabelSchemeError

    label, pred = _oncloudn_case()
    with pytest.warns(LabelSchemeWarning, match="scheme='oncloudn'") as caught:
        metrics.compare(pred, label)
    assert "four_class" in str(caught[0].message)
    with pytest.raises(LabelSchemeError) as err:
        metrics.compare(pred, np.where(label == 1, 255, 0))
    assert err.value.found == (0, 255) and "38cloud" in err.value.schemes
    assert "--scheme" in err.value.hint("cli") and "scheme=" in err.value.hint("python")
    with pytest.raises(UnknownLabelSchemeError) as unknown:
        metrics.compare(pred, label, scheme="on_cloud")
    assert unknown.value.name == "on_cloud" and "oncloudn" in unknown.value.known
    # another model's four-class map is still compared class by class, with or without the scheme's name
    other = np.array([[0, 3, 1, 2, 1, 0, 3, 1]], np.uint8)
    assert metrics.compare(pred, other).overall_accuracy == metrics.compare(pred, other, scheme="four_class") \
        .overall_accuracy == pytest.approx(7 / 8)


@pytest.mark.parametrize("key", ["four_class", "oncloudn", "38cloud", "alberta", "ukis"])
def test_ocm_evaluate_scheme_scores_like_compare(key: str) -> None:
    """``ocm evaluate --scheme K`` and ``metrics.compare(scheme=K)`` (the app's definition) agree."""
    from ocm_engine.cli.train import scheme_label_map
    from ocm_engine.labels import LABEL_SCHEMES
    from ocm_engine.training.evaluate import evaluate_masks

    rng = np.random.default_rng(1)
    raw_values = [raw for raw, _ in LABEL_SCHEMES[key].values] + [7]  # 7: unlabelled in every scheme
    labels = rng.choice(raw_values, size=(20, 20))
    pred = rng.integers(0, 4, size=(20, 20)).astype(np.uint8)
    valid = rng.random((20, 20)) > 0.1
    via_cli = evaluate_masks(pred, labels, scheme_label_map(key), valid=valid)
    via_compare = metrics.compare(pred, labels, valid, scheme=key)
    assert via_cli.confusion.tolist() == via_compare.confusion.tolist()
    assert via_cli.balanced_accuracy == pytest.approx(via_compare.balanced_accuracy)
