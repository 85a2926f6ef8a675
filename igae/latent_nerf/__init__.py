"""A nerfstudio plugin that makes stock nerfstudio methods latent.

Registered through the ``nerfstudio.method_configs`` entry point (``ns-train latent-tensorf --help``). It runs on
nerfstudio as installed from PyPI: the latent models subclass nerfstudio's models and swap in C-channel field heads
and a latent renderer; the pipeline adds the two stages of the paper (latent supervision, then RGB alignment with
decoder fine-tuning).
"""

import numpy as np
import torch

# nerfstudio 1.1.5's schedulers leave numpy scalars in checkpoints (LambdaLR's last lr is np.float64), and its loaders
# call torch.load with torch >= 2.6's default weights_only=True, which refuses them: ns-eval / ns-render fail on any
# checkpoint. Allow-listing numpy's scalar reconstructor and dtypes (plain data, no code) makes them load.
torch.serialization.add_safe_globals(
    [np.core.multiarray.scalar, np.dtype, *(type(np.dtype(t)) for t in ("float64", "float32", "int64"))]
)
