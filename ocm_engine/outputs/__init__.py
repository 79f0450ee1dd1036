"""What a run leaves behind: atomic files, GeoTIFFs, the quick-look PNG and the JSON report.

- :mod:`~ocm_engine.outputs.atomic`: ``*.partial`` then an atomic move, for every file the engine writes.
- :mod:`~ocm_engine.outputs.geotiff`: the class GeoTIFF (colour table, tags) and the probabilities.
- :mod:`~ocm_engine.outputs.quicklook`: the PNG a person can read alone.
- :mod:`~ocm_engine.outputs.report`: :class:`SceneOutputs` (what :func:`ocm_engine.predict_file`
  returns) and the one JSON report schema written from it.

Import from the modules themselves: this package imports nothing, so the light
:mod:`~ocm_engine.outputs.atomic` stays light for the readers that use it.
"""
