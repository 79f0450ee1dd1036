"""OCM Studio engine: sensor-agnostic cloud and cloud-shadow masking.

Public API::

    from ocm_engine import read_scene, predict_scene, InferenceOptions, cached_ensemble
    scene = read_scene("S2.tif", sensor="sentinel2_l2a", resolution_m=20)
    prediction = predict_scene(scene, cached_ensemble("default"), InferenceOptions(tta=True))
    prediction.statistics.percentages, prediction.grid, prediction.provenance

    from ocm_engine import predict_array, predict_file, load_ensemble, metrics
"""

from ocm_engine import metrics
from ocm_engine.constants import CLASS_COLOURS, CLASS_LABELS, CLASS_NAMES
from ocm_engine.inference import Prediction, predict_array, predict_scene
from ocm_engine.io.mapping import BandGuessWarning, BandMapping
from ocm_engine.io.scene import Scene, SceneLayout, SceneReader, read_layout, read_scene
from ocm_engine.models.cache import cached_ensemble, clear_model_cache
from ocm_engine.models.ensemble import Ensemble, load_ensemble
from ocm_engine.normalize import valid_mask, zscore_patch
from ocm_engine.options import InferenceOptions, ReadOptions
from ocm_engine.outputs.report import SceneOutputs
from ocm_engine.pipeline import predict_file
from ocm_engine.provenance import BandSource, Provenance
from ocm_engine.sensors import SENSORS, SensorPreset, get_sensor

__all__ = [
    "CLASS_COLOURS",
    "CLASS_LABELS",
    "CLASS_NAMES",
    "SENSORS",
    "BandGuessWarning",
    "BandMapping",
    "BandSource",
    "Ensemble",
    "InferenceOptions",
    "Prediction",
    "Provenance",
    "ReadOptions",
    "Scene",
    "SceneLayout",
    "SceneOutputs",
    "SceneReader",
    "SensorPreset",
    "cached_ensemble",
    "clear_model_cache",
    "get_sensor",
    "load_ensemble",
    "metrics",
    "predict_array",
    "predict_file",
    "predict_scene",
    "read_layout",
    "read_scene",
    "valid_mask",
    "zscore_patch",
]
