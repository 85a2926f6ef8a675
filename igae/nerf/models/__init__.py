"""One file per method: its latent model and RGB baseline (config classes and models) and ``settings(model_config,
lr_factor)``, listed in :data:`igae.nerf.method_configs.MODEL_FILES` and declared in :mod:`igae.nerf.registry`."""
