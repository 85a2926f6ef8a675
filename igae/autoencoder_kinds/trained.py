"""Kind ``trained``: a standard AE trained here on the real images only (the offline stand-in for a pretrained AE),
or its shipped ``checkpoint``: :func:`igae.autoencoder_jobs.prepare_trained`, :mod:`igae.ae_training`."""

from __future__ import annotations

from pathlib import Path

from igae import layout
from igae.autoencoder_kinds.registry import SHIPPED_CHECKPOINT, AutoencoderKind, unless_shipped, uses_shipped

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "kind": {"const": "trained"},
        "checkpoint": SHIPPED_CHECKPOINT,
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "training": {"type": "object", "description": "igae.ae_training.AETrainingConfig"},
    },
}


def inputs(spec: dict, config: dict) -> dict[str, str]:
    """The shipped checkpoint (replacing it re-runs the job), or the real images it trains on."""
    return {"checkpoint": spec["checkpoint"]} if uses_shipped(spec, config) else {"real": layout.real_images(config)}


def training_config(training: dict, parity: str):
    from igae.ae_training import AETrainingConfig

    return AETrainingConfig(**training)


def decodes_means(spec: dict) -> bool:
    """Trained with ``sample_posterior: false``: it decodes posterior means, its posterior std carries no meaning."""
    return spec.get("training", {}).get("sample_posterior") is False


def build(spec: dict, inputs: dict[str, Path], out_dir: Path, device, log, use_shipped: bool, parity: str):
    """Copy the shipped checkpoint once its recipe is checked, or train on the real images (``parity``: no effect)."""
    from igae.autoencoder_jobs import prepare_trained

    return prepare_trained(spec, out_dir, real_dir=inputs.get("real"), use_shipped=use_shipped, device=device, log=log)


KIND = AutoencoderKind(
    name="trained",
    schema=SCHEMA,
    rule="prepare_autoencoder",
    inputs=inputs,
    build=build,
    trains=unless_shipped,
    training_config=training_config,
    decodes_means=decodes_means,
)
