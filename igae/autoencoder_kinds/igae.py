"""Kind ``igae``: an Inverse Graphics Autoencoder, a ``base`` AE of the config fine-tuned jointly with latent
Tri-Planes of the ``scenes`` dataset and on the real images (warm-up, then joint phase), or its shipped
``checkpoint`` once checked: :func:`igae.autoencoder_jobs.train_igae_job`, :mod:`igae.igae_training`,
:mod:`igae.igae_config`. Loss terms are switches of ``training.loss``: an ablation is one more entry of this kind."""

from __future__ import annotations

from pathlib import Path

from igae import layout
from igae.autoencoder_kinds.registry import (
    SHIPPED_CHECKPOINT,
    AutoencoderKind,
    autoencoder_kind,
    unless_shipped,
    uses_shipped,
)
from igae.sources.registry import scene_source

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "kind": {"const": "igae"},
        "base": {"type": "string", "description": "the autoencoder it is fine-tuned from"},
        "scenes": {"type": "string", "description": "the scene dataset of its Tri-Planes"},
        "checkpoint": SHIPPED_CHECKPOINT,
        "training": {"type": "object", "description": "igae.igae_training.IGAETrainingConfig (igae.igae_config)"},
    },
}


def inputs(spec: dict, config: dict) -> dict[str, str]:
    """The base AE, the synthetic scenes and the real images (a shipped checkpoint's check hashes them too), and the
    shipped checkpoint."""
    files = {
        "base": layout.autoencoder(spec["base"]),
        "scenes": layout.scene_dataset(spec["scenes"]),
        "real": layout.real_images(config),
    }
    if uses_shipped(spec, config):
        files["checkpoint"] = spec["checkpoint"]
    return files


def training_config(training: dict, parity: str):
    """The IGAETrainingConfig of the entry's ``training``, its epochs counted over 1 view (the job counts them over
    the scenes' train views: the keys, not the step counts, are what is checked here)."""
    from igae.igae_config import epochs_to_steps, igae_training_config

    return igae_training_config(epochs_to_steps(training, 1, parity), "cpu", parity)[0]


def check(spec: dict, where: str, config: dict) -> None:
    """Its ``base`` is another, non-IG-AE entry whose latents it can train on; its ``scenes`` a dataset in the
    procedural rig's units that no benchmark evaluates on."""
    autoencoders, scenes, parity = config["autoencoders"], config["scenes"], config.get("parity", "paper")
    base = spec.get("base")
    if base not in autoencoders:
        raise ValueError(f"{where}.base = {base!r} names no autoencoder (known: {', '.join(autoencoders)})")
    if autoencoders[base]["kind"] == "igae":
        raise ValueError(f"{where}.base = {base!r} is itself an IG-AE; chaining IG-AEs is not supported")
    if spec.get("scenes") not in scenes:
        raise ValueError(f"{where}.scenes = {spec.get('scenes')!r} names no dataset (known: {', '.join(scenes)})")
    source = scenes[spec["scenes"]]["source"]
    if not scene_source(source).rig_units:
        raise ValueError(
            f"{where}.scenes = {spec['scenes']!r} is a {source!r} source, posed in its own units; the IG-AE's "
            "Tri-Planes need scenes in the procedural camera rig's (procedural, mesh, srn, shapenet, "
            "igae-data). Use it as a benchmark dataset instead"
        )
    _check_posterior(where, spec, base, autoencoders[base], parity)
    if spec["scenes"] in config["benchmark"]["datasets"]:
        raise ValueError(
            f"{where}.scenes = {spec['scenes']!r} is also a benchmark dataset: its views would be both IG-AE "
            "training data and NeRF/AE test data. Give the benchmark held-out scenes"
        )


def _check_posterior(where: str, spec: dict, base_name: str, base: dict, parity: str) -> None:
    """An IG-AE must train on the latent its base AE decodes: posterior samples of a base trained to decode posterior
    means are mostly noise (its posterior std stays the prior's; docs/paper.md#deviations). ``parity: official``
    trains on samples, as the official code."""
    posterior = "sample" if parity == "official" else spec.get("training", {}).get("posterior", "sample")
    decodes_means = autoencoder_kind(base["kind"]).decodes_means(base)
    if parity == "official" and decodes_means:
        raise ValueError(
            f"config: parity = 'official' trains {where.removeprefix('config: ')} on posterior samples (the official "
            f"code's mu_nerf: false), but its base {base_name!r} was trained to decode posterior means "
            f"(autoencoders.{base_name}.training.sample_posterior: false), so a sample is mostly noise. Keep parity: "
            "paper, or give it a base trained with sample_posterior: true (config/paper.yaml's Ostris VAE)"
        )
    if posterior == "sample" and decodes_means:
        raise ValueError(
            f"{where}.training.posterior = 'sample', but its base {base_name!r} was trained to decode posterior means "
            f"(autoencoders.{base_name}.training.sample_posterior: false), so its posterior std carries no meaning "
            "and a sample is mostly noise. Set posterior: mean, or train the base with sample_posterior: true"
        )


def build(
    spec: dict,
    inputs: dict[str, Path],
    out_dir: Path,
    device,
    log,
    use_shipped: bool,
    parity: str,
    scene_eval_fraction: float | None = None,
):
    """Train the IG-AE (or copy its checked, shipped checkpoint); ``scene_eval_fraction``: the scenes'
    ``eval_fraction``, which ``parity: official`` splits them by."""
    from igae.autoencoder_jobs import train_igae_job

    return train_igae_job(spec, base_dir=inputs["base"], scenes_dir=inputs["scenes"], real_dir=inputs["real"],
                          out_dir=out_dir, device=device, log=log, use_shipped=use_shipped, parity=parity,
                          scene_eval_fraction=scene_eval_fraction)  # fmt: skip


KIND = AutoencoderKind(
    name="igae",
    schema=SCHEMA,
    rule="train_igae",
    inputs=inputs,
    build=build,
    trains=unless_shipped,
    training_config=training_config,
    check=check,
)
