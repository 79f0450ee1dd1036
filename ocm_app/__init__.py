"""Streamlit glue of OCM Studio: the only code besides ``app_pages/`` that imports streamlit or leafmap.

A page reads widgets, calls one function per action and renders the result:

- Widgets: ``sidebar`` (model, device, basemap), ``scene_picker`` (the scene bar, uploads,
  the scene's summary), ``bands`` (the band mapping), ``run_controls`` (resolution, options,
  running with progress, warnings), ``stac_source`` (a STAC window), ``weights_panel``,
  ``lab_picker`` (the lab's patch picker).
- Calls and results: ``runs`` (inference runs and exports), ``compare`` (resolution and member
  comparisons, typed rows), ``batch`` (Batch QA rows), ``lab`` (normalization-lab numerics),
  ``truth`` and ``accuracy`` (scores against expert labels), ``samples`` and ``demo`` (the
  gallery), ``scenes`` (scene specs, reads), ``uploads`` (checked uploads, session folders),
  ``model_info`` (what the model's manifest and card say), ``resources`` (cached models and
  reads), ``run_queue`` (the server's run limit), ``state`` (typed session-state accessors),
  ``config`` (paths, limits).
- Rendering: ``render`` (arrays to RGBA images), ``map_layers`` (a result's map layers),
  ``mapbuilder`` (leafmap maps served offline, Streamlit-free; JavaScript and CSS in
  ``static/``), ``maps`` (its Streamlit glue), ``figures`` (matplotlib), ``notebook_data``.
"""
