"""The latent methods, each declared once: what the plugin, the workflow and the tests derive their method lists from.

Plain data, no nerfstudio or torch import: the Snakemake workflow (:mod:`igae.workflow_config`) reads it while it
builds the DAG. To add a method:

1. write its model file (``igae/latent_nerf/<method>.py``): the latent and RGB model config classes, and
   ``settings(model_config, lr_factor) -> MethodSettings`` (:mod:`igae.latent_nerf.settings`);
2. add a :class:`Method` to :data:`METHODS` below.

Two lists cannot be derived from here; tests/test_latent_methods.py checks them against :data:`METHODS` and names
the line to add: the ``nerfstudio.method_configs`` entry points in pyproject.toml (then ``pip install -e .``) and the
``&methods`` enum in workflow/schemas/config.schema.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """One latent nerfstudio method and its RGB baseline."""

    name: str
    """The name in config.yaml (``benchmark.methods``), in ``igae fit --method`` and in the results' paths."""
    module: str
    """The model file: defines both model config classes and ``settings(model_config, lr_factor)``."""
    latent_config: str
    """Name of the latent model config class in :attr:`module` (what ``benchmark.model.<name>`` overrides)."""
    rgb_config: str
    """Name of the RGB baseline's model config class in :attr:`module` (overridden the same way)."""
    description: str
    """One line for ``ns-train --help``: what the latent model is built from."""
    gpu_only: str | None = None
    """Why the method cannot run without CUDA, or None: a CPU run of the workflow skips it and its tables say why."""

    @property
    def entry_point(self) -> str:
        """Its ``ns-train`` name, registered in pyproject.toml's ``nerfstudio.method_configs`` entry points."""
        return f"latent-{self.name}"

    @property
    def specification(self) -> str:
        """The attribute of :mod:`igae.latent_nerf.method_configs` holding its ``MethodSpecification``, which the
        entry point names (``igae.latent_nerf.method_configs:<specification>``)."""
        return self.entry_point.replace("-", "_")


METHODS = {
    method.name: method
    for method in (
        Method(
            name="tensorf",
            module="igae.latent_nerf.tensorf",
            latent_config="LatentTensoRFModelConfig",
            rgb_config="RGBTensoRFModelConfig",
            description="TensoRF",
        ),
        Method(
            name="nerfacto",
            module="igae.latent_nerf.nerfacto",
            latent_config="LatentNerfactoModelConfig",
            rgb_config="RGBNerfactoModelConfig",
            description="Nerfacto",
        ),
        Method(
            name="vanilla-nerf",
            module="igae.latent_nerf.vanilla_nerf",
            latent_config="LatentVanillaNeRFModelConfig",
            rgb_config="RGBVanillaNeRFModelConfig",
            description="Vanilla NeRF",
        ),
        Method(
            name="kplanes",
            module="igae.latent_nerf.kplanes",
            latent_config="LatentKPlanesModelConfig",
            rgb_config="RGBKPlanesModelConfig",
            description="K-Planes (nerfstudio components, no tiny-cuda-nn)",
        ),
        Method(
            name="instant-ngp",
            module="igae.latent_nerf.instant_ngp",
            latent_config="LatentInstantNGPModelConfig",
            rgb_config="RGBInstantNGPModelConfig",
            description="Instant-NGP",
            gpu_only="instant-ngp needs nerfacc's CUDA extension; it is GPU-only",
        ),
        Method(
            name="splatfacto",
            module="igae.latent_nerf.splatfacto",
            latent_config="LatentSplatfactoModelConfig",
            rgb_config="RGBSplatfactoModelConfig",
            description="Splatfacto, 3D Gaussian splatting (gsplat on a GPU, a PyTorch rasterizer on a CPU)",
        ),
    )
}
"""name -> :class:`Method`: the paper's five methods, in the paper's order, then Gaussian splatting (not in the
paper)."""


def method(name: str) -> Method:
    """The registered method called ``name``; a ValueError listing the known ones otherwise."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r} (known: {', '.join(METHODS)})")
    return METHODS[name]
