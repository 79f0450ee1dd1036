"""The sidebar's model panel: which model runs, how strong it is, and getting the official weights.

The official OmniCloudMask v4 pair runs as soon as the engine's resolver finds it verified
(``$OCM_WEIGHTS_DIR``, this project's cache or the ``omnicloudmask`` package's own cache), in
every session that has not picked a model by hand. Without it the default model runs, and:

* offline (``HF_HUB_OFFLINE``), one line says so;
* on a trusted single-user install (``OCM_TRUSTED_LOCAL=1``, :func:`ocm_app.config.trusted_local`),
  a button fetches the pair with a progress element;
* where the app is hosted for strangers, one line tells the operator what to run (no server paths).
"""

from __future__ import annotations

import threading
from typing import Final

import streamlit as st

from ocm_app import config, model_info, resources, state
from ocm_engine.errors import OcmError, one_line
from ocm_engine.models.hub import DownloadProgress, hub_offline
from ocm_engine.models.official import DOWNLOAD_MB, KIND_LABELS, download_official

DOWNLOAD_KEY: Final = "weights.download"
USER_CHOSE: Final = "ocm.model_user_chose"
DOWNLOAD_LABEL: Final = f"Get the official weights ({DOWNLOAD_MB} MB)"
_DOWNLOADING = threading.Lock()  # one download per process, whichever session starts it


def _chosen() -> None:
    st.session_state[USER_CHOSE] = True


def running_source() -> tuple[str, str]:
    """``(model that runs, where the official pair was found in words or "")`` for this session."""
    source = resources.model_args(state.model_choice())[0]
    found = resources.official_weights() if source == "official" else None
    return source, KIND_LABELS[found.location.kind] if found else ""


def caption() -> str:
    """The model line: which model runs and how strong it is (its card, or the published figures)."""
    source, where = running_source()
    return model_info.model_line(source, config.model_override(), where)


def render() -> None:
    """The model picker, the model line and, while the official pair is absent, how to get it."""
    found = resources.official_weights()
    if not st.session_state.get(USER_CHOSE):
        st.session_state[state.MODEL_SOURCE] = "official" if found is not None else "default"
    st.selectbox("Weights", list(resources.MODEL_SOURCES), key=state.MODEL_SOURCE,
                 format_func=resources.MODEL_SOURCES.__getitem__, on_change=_chosen)
    st.caption(caption())
    if found is None:
        _offer_download(state.model_choice()[0])


def _offer_download(choice: str) -> None:
    if choice == "official":
        st.caption("The official weights are not installed here, so the default model runs.")
    if hub_offline():
        st.caption("Offline (HF_HUB_OFFLINE is set): the official weights cannot be fetched; the default model runs.")
        return
    if not config.trusted_local():
        st.caption("Stronger official OmniCloudMask v4 weights exist: the operator of this app can install "
                   "them with `ocm weights --download`.")
        return
    if st.button(DOWNLOAD_LABEL, key=DOWNLOAD_KEY, icon=":material/download:",
                 help="From the model hub (NickWright/OmniCloudMask, pinned revision); verified before use."):
        _download()


def _download() -> None:
    if not _DOWNLOADING.acquire(blocking=False):
        st.info("Another session is downloading the official weights; they will be used once verified.")
        return
    bar = st.progress(0.0, text="Downloading the official weights...")
    shown = [-1]

    def update(p: DownloadProgress) -> None:
        fraction = min(1.0, (p.file_index + p.done_bytes / max(1, p.total_bytes)) / max(1, p.file_count))
        if int(fraction * 100) != shown[0]:
            shown[0] = int(fraction * 100)
            bar.progress(fraction, text=f"Official weights: file {p.file_index + 1} of {p.file_count}, "
                                        f"{p.done_bytes / 1e6:.1f} of {p.total_bytes / 1e6:.1f} MB")

    try:
        download_official(progress=update)
    except OcmError as err:
        bar.empty()
        st.warning(f"No official weights: {one_line(err, frontend='app')} The default model runs.",
                   icon=":material/cloud_off:")
        return
    finally:
        _DOWNLOADING.release()
    bar.progress(1.0, text="Official weights downloaded and verified.")
    st.rerun()


def default_run_note(model: str) -> None:
    """Under a result made by the default model: a short note that stronger weights exist."""
    if model.split(" ", 1)[0] != "default" or config.model_override():
        return
    where = "get them in the sidebar" if config.trusted_local() else "ask the operator to install them"
    st.caption(f":material/info: Made with the default fallback model. The official OmniCloudMask v4 weights are "
               f"stronger (PixBox-S2 balanced accuracy {model_info.OFFICIAL_ACCURACY}): {where}.")
