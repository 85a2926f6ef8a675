"""igae-bench: a reproducible benchmark of latent-space NeRFs (IG-AE, ICLR 2025)."""

__version__ = "0.1.0"
