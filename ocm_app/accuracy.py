"""The Run page's accuracy view: a run scored against its scene's expert (or exact synthetic) labels."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ocm_app import resources, scenes, truth
from ocm_app.runs import RunResult
from ocm_engine.errors import OcmError


def accuracy_of(result: RunResult) -> truth.Accuracy | None:
    """The run scored against its scene's expert labels; ``None`` without labels (or unreadable ones)."""
    if result.spec.labels is None:
        return None
    scheme, path = result.spec.labels
    try:
        labels = resources.expert_labels(scheme, path)
    except OcmError as err:
        st.warning(scenes.describe_error(err), icon=":material/warning:")
        return None
    pred = result.prediction
    return truth.score(scheme, labels, pred.classes, pred.valid, Path(path).name)


def accuracy_section(accuracy: truth.Accuracy) -> None:
    """The 'accuracy against the experts' view: the scheme explained, confusion matrix, per-class F1."""
    st.subheader("Accuracy against the experts", anchor="accuracy")
    scheme = accuracy.scheme
    st.markdown(f"**{scheme.title}** (`{accuracy.source}`) · classes: {', '.join(scheme.classes)}. "
                f"{scheme.explanation}")
    scores = accuracy.scores
    cols = st.columns(len(scheme.classes) + 2)
    cols[0].metric("Pixels right", f"{100 * scores.overall_accuracy:.1f} %",
                   help="Share of labelled, valid pixels where the model's (grouped) class equals the experts'.")
    cols[1].metric("Balanced accuracy", f"{100 * scores.balanced_accuracy:.1f} %",
                   help="Mean recall over the experts' classes: a rare class counts as much as a common one.")
    for col, item in zip(cols[2:], scores.scores, strict=True):
        unlabelled = item.support == 0  # no pixel of this class to find: F1 says nothing
        col.metric(f"F1 {item.name}", "n/a" if unlabelled or item.f1 != item.f1 else f"{item.f1:.2f}",
                   help="F1 = 2 x precision x recall / (precision + recall); 1 is perfect."
                   + (" No pixel here is labelled with this class." if unlabelled else ""))
    left, right = st.columns([3, 2])
    left.markdown("**Confusion matrix** (rows: what the experts say; columns: what the model says; "
                  "% of the row)")
    left.dataframe(accuracy.confusion_rows(), hide_index=True, key="run.confusion", on_select="ignore")
    right.markdown("**Per class** (fractions, 1 is perfect)")
    right.dataframe(accuracy.score_rows(), hide_index=True, key="run.scores", on_select="ignore")
    st.caption("Scored on the inference grid, only where the experts labelled a pixel and the scene has "
               "data. The map's 'Experts' labels' layer and the 'Swipe: experts | model' tab show where "
               "they differ.")
