"""Tests of evaluation metrics (values checked by hand) and label-map handling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ocm_engine.errors import InvalidImageError
from ocm_engine.training.evaluate import (
    FOUR_CLASS,
    encode_prediction,
    evaluate_masks,
    format_table,
    parse_label_map,
    scheme_for,
)


def test_hand_made_confusion_case() -> None:
    # Raw labels: 0 clear, 1 cloud, 4 shadow, 255 nodata.
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 4, 4, 255], dtype=np.uint8)[None]
    # Model classes: thick (1) and thin (2) both count as cloud here.
    pred = np.array([0, 0, 0, 1, 1, 2, 1, 0, 3, 0, 2], dtype=np.uint8)[None]
    result = evaluate_masks(pred, labels, "0=clear,1=cloud,4=shadow,255=ignore")
    assert result.classes == ("clear", "cloud", "shadow")
    assert result.confusion.tolist() == [[3, 1, 0], [1, 3, 0], [1, 0, 1]]
    clear, cloud, shadow = result.scores
    # clear: TP 3, FP 2, FN 1.
    assert (clear.precision, clear.recall) == pytest.approx((0.6, 0.75))
    assert clear.f1 == pytest.approx(2 / 3) and clear.iou == pytest.approx(0.5)
    # cloud: TP 3, FP 1, FN 1.
    assert (cloud.precision, cloud.recall, cloud.f1, cloud.iou) == pytest.approx((0.75, 0.75, 0.75, 0.6))
    # shadow: TP 1, FP 0, FN 1.
    assert (shadow.precision, shadow.recall, shadow.f1) == pytest.approx((1.0, 0.5, 2 / 3))
    assert shadow.support == 2
    assert result.balanced_accuracy == pytest.approx((0.75 + 0.75 + 0.5) / 3)
    assert result.overall_accuracy == pytest.approx(0.7)
    assert "| toy | m | cloud | 0.750 | 0.750 | 0.750 | 0.600 | 4 |" in format_table([("toy", "m", result)])


def test_schemes_follow_the_labels() -> None:
    assert scheme_for({0: "clear", 1: "thick", 2: "thin", 3: "shadow"}) == FOUR_CLASS
    assert scheme_for({0: "clear", 1: "cloud"}) == ("clear", "cloud")
    assert scheme_for({0: "clear", 1: "shadow"}) == ("clear", "shadow")
    classes = np.array([0, 1, 2, 3])
    assert encode_prediction(classes, ("clear", "cloud")).tolist() == [0, 1, 1, 0]
    assert encode_prediction(classes, ("clear", "shadow")).tolist() == [0, 0, 0, 1]
    assert encode_prediction(classes, FOUR_CLASS).tolist() == [0, 1, 2, 3]


def test_four_class_scores_and_absent_class() -> None:
    labels = np.array([[0, 1, 2, 2]])
    pred = np.array([[0, 1, 1, 2]])
    result = evaluate_masks(pred, labels, {0: "clear", 1: "thick", 2: "thin"})
    thin = result.score("thin")
    assert (thin.precision, thin.recall) == pytest.approx((1.0, 0.5))
    assert math.isnan(result.score("shadow").f1)  # no shadow anywhere: undefined, not 0
    assert result.balanced_accuracy == pytest.approx((1 + 1 + 0.5) / 3)


def test_label_map_parsing_and_errors() -> None:
    assert parse_label_map('{"0": "shadow", "4": "cloud"}') == {0: "shadow", 4: "cloud"}
    assert parse_label_map("0=shadow, 4=cloud") == {0: "shadow", 4: "cloud"}
    with pytest.raises(InvalidImageError) as unknown:
        parse_label_map("0=cumulus")
    assert (unknown.value.subject, unknown.value.arrived) == ("Label map class", "cumulus")
    assert "thick" in unknown.value.expected
    with pytest.raises(InvalidImageError) as no_equals:
        parse_label_map("0:clear")
    assert (no_equals.value.subject, no_equals.value.arrived) == ("Label map entry '0:clear'", "no '='")
    with pytest.raises(InvalidImageError) as not_number:
        parse_label_map("x=clear")
    assert (not_number.value.arrived, not_number.value.expected) == ("x", "a number")
    with pytest.raises(InvalidImageError) as mixed:
        evaluate_masks(np.zeros((2, 2)), np.zeros((2, 2)), "1=thick,2=cloud")
    assert mixed.value.subject == "Label map classes"
    with pytest.raises(InvalidImageError) as shapes:
        evaluate_masks(np.zeros((2, 2)), np.zeros((3, 3)), "0=clear")
    assert (shapes.value.subject, shapes.value.arrived) == ("Prediction shape", (2, 2))


def test_evaluate_command_errors_name_flags_only_in_the_cli_wording() -> None:
    import argparse

    from ocm_engine.training.evaluate import run_evaluate_command

    args = argparse.Namespace(images=["a.tif"], labels=[], label_map="0=clear", bands="3,2,4")
    with pytest.raises(InvalidImageError) as count:
        run_evaluate_command(args)
    assert count.value.subject == "Images and label files" and "--labels" in count.value.describe("cli")
    assert "--" not in str(count.value) and "--" not in count.value.describe("app")
    for bad in ("3,2", "a,b,c", "0,1,2"):
        args = argparse.Namespace(images=["a.tif"], labels=["b.tif"], label_map="0=clear", bands=bad)
        with pytest.raises(InvalidImageError) as bands:
            run_evaluate_command(args)
        assert (bands.value.subject, bands.value.arrived) == ("Band numbers (Red, Green, NIR)", bad)
        assert "--bands" in bands.value.describe("cli") and "--bands" not in str(bands.value)
