"""OCM Studio engine: sensor-agnostic cloud and cloud-shadow masking.

Public API::

    from ocm_engine import predict_array, predict_file, load_ensemble, zscore_patch
    from ocm_engine import SENSORS, Prediction
"""

from ocm_engine.constants import CLASS_COLOURS, CLASS_LABELS, CLASS_NAMES
from ocm_engine.inference import Prediction, predict_array
from ocm_engine.models.ensemble import Ensemble, load_ensemble
from ocm_engine.normalize import valid_mask, zscore_patch
from ocm_engine.pipeline import predict_file
from ocm_engine.sensors import SENSORS, SensorPreset, get_sensor

__all__ = [
    "CLASS_COLOURS",
    "CLASS_LABELS",
    "CLASS_NAMES",
    "SENSORS",
    "Ensemble",
    "Prediction",
    "SensorPreset",
    "get_sensor",
    "load_ensemble",
    "predict_array",
    "predict_file",
    "valid_mask",
    "zscore_patch",
]
