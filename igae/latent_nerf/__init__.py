"""A nerfstudio plugin that makes stock nerfstudio methods latent.

Registered through the ``nerfstudio.method_configs`` entry point (``ns-train latent-tensorf --help``). It runs on
nerfstudio as installed from PyPI: the latent models subclass nerfstudio's models and swap in C-channel field heads
and a latent renderer; the pipeline adds the two stages of the paper (latent supervision, then RGB alignment with
decoder fine-tuning).

Importing the package imports neither torch nor nerfstudio: the workflow reads :mod:`.registry` while it builds the
DAG. Each method is declared there once.
"""
