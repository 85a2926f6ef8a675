"""The NeRF stage: latent NeRFs (and their RGB baselines) as a nerfstudio plugin, and the harness that fits, scores
and times one of them for the workflow.

- The plugin, registered through the ``nerfstudio.method_configs`` entry point (``ns-train latent-tensorf --help``),
  runs on nerfstudio as installed from PyPI: the latent models (:mod:`.models`, one per file) subclass nerfstudio's and
  swap in C-channel field heads and a latent renderer (:mod:`.components`); the pipeline (:mod:`.pipeline`) adds the
  paper's two stages (latent supervision, then RGB alignment with decoder fine-tuning) over the datamanagers of
  :mod:`.data`; :mod:`.method_configs` builds every trainer config; :mod:`.viewer` shows a latent fit decoded.
- The harness: :mod:`.fit` (one run folder: train, probe the convergence curve of :mod:`.convergence`, time with
  :mod:`.timing`, render), :mod:`.scoring` (the metrics of a run folder, re-computable), :mod:`.view_run`
  (``igae view``).

Importing the package imports neither torch nor nerfstudio: the workflow reads :mod:`.registry` (each method declared
once, and the two spaces) and :mod:`.model_fields` while it builds the DAG.
"""
