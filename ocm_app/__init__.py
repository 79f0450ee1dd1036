"""Streamlit glue of OCM Studio: the only code besides ``app_pages/`` that imports streamlit or leafmap.

Modules: ``config`` (paths, limits), ``state`` (session-state accessors), ``resources``
(cached models and reads), ``samples`` (the sample gallery), ``scenes`` (scene specs, reads,
uploads), ``runs`` (inference runs and exports), ``render`` (arrays to RGBA images),
``maps`` (leafmap maps served offline), ``figures`` (matplotlib), ``lab`` (normalization
lab numerics), ``widgets`` (shared widget groups).
"""
