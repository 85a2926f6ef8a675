"""The latent methods, each declared once: what the plugin, the workflow and the tests derive their method lists from,
and the two spaces a fit learns in (:class:`Space`).

Plain data, no nerfstudio or torch import: the Snakemake workflow (:mod:`igae.config`) reads it while it builds the
DAG. Adding a method is docs/extending.md#a-method: its model file ``igae/nerf/models/<method>.py``, a :class:`Method`
in :data:`METHODS` below, its line in :data:`igae.nerf.method_configs.MODEL_FILES` and its ``ns-train`` specification
there, its entry point in pyproject.toml, its name in the schema's ``&methods`` enum and its fields in
:mod:`igae.nerf.model_fields`; tests/test_latent_methods.py names whichever is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Space(StrEnum):
    """Where a fit learns: ``latent`` (a latent NeRF of an autoencoder, two stages) or ``rgb`` (the stock nerfstudio
    baseline). A :class:`str`: paths, tables and records spell it as its value."""

    LATENT = "latent"
    RGB = "rgb"

    @classmethod
    def parse(cls, value: str | Space) -> Space:
        """The member of ``value``; a ValueError naming the choices otherwise."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"space must be one of {', '.join(cls)}, not {value!r}") from None


@dataclass(frozen=True)
class Method:
    """One latent nerfstudio method and its RGB baseline."""

    name: str
    """The name in config.yaml (``benchmark.methods``), in ``igae fit --method`` and in the results' paths."""
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
        """The attribute of :mod:`igae.nerf.method_configs` holding its ``MethodSpecification``, which the
        entry point names (``igae.nerf.method_configs:<specification>``)."""
        return self.entry_point.replace("-", "_")


METHODS = {
    method.name: method
    for method in (
        Method(
            name="tensorf",
            description="TensoRF",
        ),
        Method(
            name="nerfacto",
            description="Nerfacto",
        ),
        Method(
            name="vanilla-nerf",
            description="Vanilla NeRF",
        ),
        Method(
            name="kplanes",
            description="K-Planes (nerfstudio components, no tiny-cuda-nn)",
        ),
        Method(
            name="instant-ngp",
            description="Instant-NGP",
            gpu_only="instant-ngp needs nerfacc's CUDA extension; it is GPU-only",
        ),
        Method(
            name="splatfacto",
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
