"""Kind ``igae``: an Inverse Graphics Autoencoder, a ``base`` AE of the config fine-tuned jointly with latent
Tri-Planes of the ``scenes`` dataset and on the real images (warm-up, then joint phase): :func:`train_igae_job`
(:mod:`igae.ae.igae_training` trains, :mod:`igae.ae.training_configs` reads the entry's ``training``), or its shipped
``checkpoint`` once checked against what this config would train. Loss terms are switches of ``training.loss``: an
ablation is one more entry of this kind."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from igae import layout
from igae.ae.kinds.kind import SHIPPED_CHECKPOINT, AutoencoderEntry, AutoencoderKind, ShippedEntry, unless_shipped
from igae.ae.training_configs import IGAETrainingConfig, epochs_to_steps, igae_parity, igae_training_config
from igae.parity import Parity
from igae.scenes.sources.registry import scene_source

if TYPE_CHECKING:
    import torch

    from igae.ae.autoencoder import AutoencoderCard
    from igae.ae.igae_training import SceneViews

NAME = "igae"

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "kind": {"const": NAME},
        "base": {"type": "string", "description": "the autoencoder it is fine-tuned from"},
        "scenes": {"type": "string", "description": "the scene dataset of its Tri-Planes"},
        "checkpoint": SHIPPED_CHECKPOINT,
        "training": {"type": "object", "description": "igae.ae.training_configs.IGAETrainingConfig"},
    },
}


@dataclass(frozen=True)
class IGAEEntry(ShippedEntry):
    """An ``igae`` entry: its ``training`` is an :class:`igae.ae.training_configs.IGAETrainingConfig` whose epochs the
    job turns into steps for the scenes' train views (:func:`train_igae_job`)."""

    base: str | None = None
    """The entry of the autoencoder it is fine-tuned from (not an IG-AE)."""
    scenes: str | None = None
    """The scene dataset its Tri-Planes are fitted to (in the procedural rig's units, no benchmark's)."""


def inputs(entry: IGAEEntry, config: dict) -> dict[str, str]:
    """The base AE, the synthetic scenes and the real images (a shipped checkpoint's check hashes them too), and the
    shipped checkpoint."""
    files = {
        "base": layout.autoencoder(entry.base),
        "scenes": layout.scene_dataset(entry.scenes),
        "real": layout.real_images(config),
    }
    if entry.uses_shipped(config):
        files["checkpoint"] = entry.checkpoint
    return files


def training_config(training: dict, parity: Parity) -> IGAETrainingConfig:
    """The IGAETrainingConfig of the entry's ``training``, its epochs counted over 1 view (the job counts them over
    the scenes' train views: the keys, not the step counts, are what is checked here)."""
    return igae_training_config(epochs_to_steps(training, 1, parity), "cpu", parity)[0]


def check(entry: IGAEEntry, where: str, config: dict, entries: Mapping[str, AutoencoderEntry]) -> None:
    """Its ``base`` is another, non-IG-AE entry whose latents it can train on; its ``scenes`` a dataset in the
    procedural rig's units that no benchmark evaluates on."""
    scenes, parity, base = config["scenes"], Parity.of(config), entries.get(entry.base)
    if base is None:
        raise ValueError(f"{where}.base = {entry.base!r} names no autoencoder (known: {', '.join(entries)})")
    if base.kind == NAME:
        raise ValueError(f"{where}.base = {entry.base!r} is itself an IG-AE; chaining IG-AEs is not supported")
    if entry.scenes not in scenes:
        raise ValueError(f"{where}.scenes = {entry.scenes!r} names no dataset (known: {', '.join(scenes)})")
    source = scenes[entry.scenes]["source"]
    if not scene_source(source).rig_units:
        raise ValueError(
            f"{where}.scenes = {entry.scenes!r} is a {source!r} source, posed in its own units; the IG-AE's "
            "Tri-Planes need scenes in the procedural camera rig's (procedural, mesh, srn, shapenet, "
            "igae-data). Use it as a benchmark dataset instead"
        )
    _check_posterior(where, entry, base, parity)
    if entry.scenes in config["benchmark"]["datasets"]:
        raise ValueError(
            f"{where}.scenes = {entry.scenes!r} is also a benchmark dataset: its views would be both IG-AE "
            "training data and NeRF/AE test data. Give the benchmark held-out scenes"
        )


def _check_posterior(where: str, entry: IGAEEntry, base: AutoencoderEntry, parity: Parity) -> None:
    """An IG-AE must train on the latent its base AE decodes: posterior samples of a base trained to decode posterior
    means are mostly noise (its posterior std stays the prior's; docs/paper.md#deviations). ``parity: official``
    trains on samples, as the official code."""
    base_name, decodes_means = base.name, base.decodes_means
    posterior = "sample" if parity == Parity.OFFICIAL else entry.training.get("posterior", "sample")
    if parity == Parity.OFFICIAL and decodes_means:
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


def igae_data_sha256(scenes: Sequence[SceneViews], real: torch.Tensor) -> dict[str, str]:
    """sha256 of an IG-AE's training data as the training sees it: every scene's train views (uint8 pixels) and
    cameras, in scene order, and the real train images (uint8 pixels). Decoded pixels, so PNG encoders do not matter.
    """
    scenes_hash = hashlib.sha256()
    for scene in scenes:
        for tensor in (scene.images, scene.c2w_opencv.float(), scene.intrinsics_normalized.float()):
            scenes_hash.update(tensor.contiguous().numpy().tobytes())
    return {"scenes_sha256": scenes_hash.hexdigest(), "real_sha256": hashlib.sha256(real.numpy().tobytes()).hexdigest()}


def _comparable_recipe(training: dict) -> dict:
    """A recipe's training config without what does not change the numbers' meaning: the device it ran on."""
    return {key: value for key, value in training.items() if key != "device"}


def _check_shipped_igae(entry: IGAEEntry, checkpoint: Path, card: AutoencoderCard, expected: dict) -> None:
    """Refuse a shipped IG-AE whose recipe, base AE or training data differ from what this config would train."""
    from igae.ae.autoencoder import AutoencoderError

    name, recipe = entry.name, card.recipe
    remedy = (
        f"to train one with this config instead: --forcerun train_igae --config use_shipped_checkpoints=False, or "
        f"drop autoencoders.{name}.checkpoint"
    )
    if recipe.get("parity", "paper") != expected["parity"]:
        raise AutoencoderError(
            f"config: parity = {str(expected['parity'])!r}, but the shipped checkpoint {checkpoint} was trained with "
            f"parity {recipe.get('parity', 'paper')!r}; {remedy}"
        )
    if _comparable_recipe(recipe.get("training", {})) != _comparable_recipe(expected["training"]):
        shipped = recipe.get("training", {})
        changed = sorted(
            key
            for key in set(shipped) | set(expected["training"])
            if key != "device" and shipped.get(key) != expected["training"].get(key)
        )
        raise AutoencoderError(
            f"config: autoencoders.{name}.training differs from the recipe of the shipped checkpoint {checkpoint} "
            f"(keys: {', '.join(changed)}); {remedy}"
        )
    if recipe.get("base_sha256") != expected["base_sha256"]:
        raise AutoencoderError(
            f"config: autoencoders.{name}.base = {entry.base!r} (sha256 {expected['base_sha256'][:12]}…) is not the "
            f"base AE the shipped checkpoint {checkpoint} was trained from (sha256 "
            f"{str(recipe.get('base_sha256'))[:12]}…); {remedy}"
        )
    for key, config_key in (("scenes_sha256", f"autoencoders.{name}.scenes"), ("real_sha256", "real_images")):
        if recipe.get(key) != expected[key]:
            raise AutoencoderError(
                f"config: {config_key}: the data differ from those the shipped checkpoint {checkpoint} was trained on "
                f"({key} {expected[key][:12]}… here, {str(recipe.get(key))[:12]}… in its card; with an unchanged "
                f"config, this machine renders other pixels); {remedy}"
            )


def scene_split(data, parity: Parity = Parity.PAPER, eval_fraction: float | None = None) -> tuple[list[int], list[int]]:
    """(train, eval) view indices of a loaded scene: its written split (the first ceil(V · eval_fraction) views
    eval), or under ``parity: official`` the official ``ObjectDataset``'s first floor(V · eval_fraction)
    (:func:`igae.scenes.dataset_io.official_eval_count`), which needs the scene dataset's ``eval_fraction``."""
    from igae.scenes.dataset_io import official_eval_count

    if Parity.parse(parity) == Parity.PAPER:
        return list(data.train_indices), list(data.eval_indices)
    if eval_fraction is None:
        raise ValueError("igae: parity official splits the IG-AE's scenes itself: give the scenes' eval_fraction")
    count = official_eval_count(len(data.images), eval_fraction)
    return list(range(count, len(data.images))), list(range(count))


def train_igae_job(
    entry: IGAEEntry,
    base_dir,
    scenes_dir,
    real_dir,
    out_dir,
    device="cpu",
    log=print,
    use_shipped: bool = True,
    parity: Parity = Parity.PAPER,
    scene_eval_fraction: float | None = None,
) -> AutoencoderCard:
    """Fine-tune the base AE into an IG-AE on the train views of every scene of ``scenes_dir``; save it.

    With ``use_shipped`` and a ``checkpoint`` in the entry, copy that shipped IG-AE instead, after checking that its
    card's recipe, base AE and training data (sha256) are those this config would train with.

    ``parity: official`` (docs/paper.md#deviations): the official training behaviours
    (:data:`igae.ae.training_configs.OFFICIAL_TRAINING`, :func:`igae.ae.training_configs.igae_parity`), the official
    split of the scenes (:func:`scene_split`, with ``scene_eval_fraction``) and the base AE's latent background for
    the IG-AE's latent NeRFs, instead of one recomputed from the fine-tuned weights."""
    from safetensors.torch import save_file

    from igae.ae.autoencoder import (
        AutoencoderCard,
        copy_checkpoint,
        latent_background,
        load_with_card,
        save_autoencoder,
    )
    from igae.ae.igae_training import IGAECurveData, SceneViews, train_igae
    from igae.metrics import build_perceptual_loss
    from igae.scenes.dataset_io import load_scene, scene_folders
    from igae.scenes.real_images import load_real_images

    parity = Parity.parse(parity)
    shipped = Path(entry.checkpoint) if entry.checkpoint and use_shipped else None
    ae, base_card = load_with_card(base_dir, device)
    folders = scene_folders(scenes_dir)
    # train views only; images kept as uint8 on the host (batches are converted on the device, same numbers)
    scene_data = [load_scene(folder) for folder in folders]
    splits = [scene_split(data, parity, scene_eval_fraction) for data in scene_data]  # (train, eval) indices
    scenes = [
        SceneViews.from_scene_data(data, train, uint8=True) for data, (train, _) in zip(scene_data, splits, strict=True)
    ]
    train_views = sum(len(scene.images) for scene in scenes)
    training = entry.training
    config, perceptual_kind = igae_training_config(epochs_to_steps(training, train_views, parity), device, parity)
    # before the real images and the base's renders: missing LPIPS weights stop the job here
    wants_perceptual = config.loss.ae_real_perceptual and shipped is None
    perceptual = build_perceptual_loss(perceptual_kind if wants_perceptual else "none", device)
    behaviours = igae_parity(training, train_views, parity)
    if parity == Parity.OFFICIAL:  # the official code renders every Tri-Plane over the base AE's (tabulated) background
        config.background = list(base_card.latent_background)
    real = load_real_images(real_dir, "train", uint8=True)  # (N, 3, H, W) uint8
    data_sha256 = igae_data_sha256(scenes, real)
    if shipped is not None:
        _, card = load_with_card(shipped, "cpu")  # checks the weights against the card's sha256
        expected = {"training": asdict(config), "base_sha256": base_card.sha256, "parity": parity, **data_sha256}
        _check_shipped_igae(entry, shipped, card, expected)
        copy_checkpoint(shipped, out_dir)
        log(f"{entry.name}: shipped checkpoint {shipped} (sha256 {card.sha256}); recipe, base and data match")
        return card
    # the curves: every scene's held-out views (rendered by its Tri-Plane, never trained on) and the real test split
    curve_data = IGAECurveData(
        heldout=[
            SceneViews.from_scene_data(data, held_out, uint8=True)
            for data, (_, held_out) in zip(scene_data, splits, strict=True)
        ],
        real=load_real_images(real_dir, "test", uint8=True),
    )
    log(
        f"{entry.name}: IG-AE from {base_card.name} on {len(scenes)} scenes, {len(real)} real images, "
        f"perceptual = {perceptual.label if perceptual else 'none'}, latents: posterior {config.posterior}"
    )
    result = train_igae(
        ae,
        base_card.normalizer,
        scenes,
        real,
        config,
        perceptual=perceptual,
        log=log,
        curve_data=curve_data,
        parity=behaviours,
    )
    parity_record = {} if parity == Parity.PAPER else {"parity": parity, "parity_behaviours": asdict(behaviours)}
    card = AutoencoderCard(
        name=entry.name,
        kind=NAME,
        source=base_card.name,
        latent_channels=base_card.latent_channels,
        downsample=base_card.downsample,
        latent_scale=base_card.latent_scale,
        latent_background=[],
        recipe={
            "base_sha256": base_card.sha256,
            "training": asdict(config),
            "perceptual": perceptual.label if perceptual else "none",
            "scenes": [folder.name for folder in folders],
            **data_sha256,
            "n_real_images": len(real),
            "seconds": sum(step["seconds"] for step in result.history),
            "device": str(device),
            "curves": result.curves,
            **parity_record,
        },
    )
    card.latent_background = latent_background(ae, card.normalizer, scenes[0].images.shape[-1], device).tolist()
    if parity == Parity.OFFICIAL:  # the official extension composites every latent NeRF over the base AE's background
        card.latent_background = list(base_card.latent_background)

    def write_extras(folder: Path) -> None:
        planes = {"planes": result.triplanes.planes.detach().cpu().contiguous()}
        planes.update({f"mlp.{k}": v.detach().cpu().contiguous() for k, v in result.decoder.state_dict().items()})
        save_file(planes, str(folder / "triplanes.safetensors"))
        (folder / "training_history.json").write_text(json.dumps(result.history))

    return save_autoencoder(ae, out_dir, card, extras=write_extras)


def build(
    entry: IGAEEntry,
    inputs: dict[str, Path],
    out_dir: Path,
    device,
    log,
    use_shipped: bool,
    parity: Parity,
    scene_eval_fraction: float | None = None,
):
    """Train the IG-AE (or copy its checked, shipped checkpoint); ``scene_eval_fraction``: the scenes'
    ``eval_fraction``, which ``parity: official`` splits them by."""
    return train_igae_job(entry, base_dir=inputs["base"], scenes_dir=inputs["scenes"], real_dir=inputs["real"],
                          out_dir=out_dir, device=device, log=log, use_shipped=use_shipped, parity=parity,
                          scene_eval_fraction=scene_eval_fraction)  # fmt: skip


KIND = AutoencoderKind(
    name=NAME,
    schema=SCHEMA,
    entry=IGAEEntry,
    rule="train_igae",
    inputs=inputs,
    build=build,
    trains=unless_shipped,
    training_config=training_config,
    check=check,
    training_curves=True,
)
