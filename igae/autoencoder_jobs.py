"""The autoencoder stages of the workflow: what each kind of autoencoder entry builds (:mod:`igae.autoencoder_kinds`
names the kinds and calls these: load a pretrained AE, copy or train a standard AE, train an IG-AE), and the
reconstruction evaluation of any of them. Each takes a config entry (a dict, as in config.yaml) and folders."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from igae.ae_training import AETrainingConfig, train_standard_autoencoder
from igae.autoencoders import (
    OFFICIAL_LATENT_BACKGROUNDS,
    AutoencoderCard,
    AutoencoderError,
    downsample_factor,
    latent_background,
    load_autoencoder,
    load_with_card,
    reconstruct,
    save_autoencoder,
    to_unit_hwc,
)
from igae.igae_config import check_parity, epochs_to_steps, igae_parity, igae_training_config
from igae.igae_training import IGAECurveData, SceneViews, train_igae
from igae.metrics import DEFAULT_PROTOCOL, build_perceptual_loss, lpips_status, per_image_metrics, summarize
from igae.provenance import atomic_folder, atomic_write_json, provenance
from igae.real_images import load_real_images
from igae.scenes.dataset_io import load_scene, official_eval_count


def _copy_folder(source: Path, destination: Path) -> None:
    with atomic_folder(destination) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)


def prepare_pretrained(spec: dict, out_dir, device="cpu", log=print, parity: str = "paper") -> AutoencoderCard:
    """Write ``out_dir`` for a ``pretrained`` entry: the AE of its ``hub_id`` or local ``path``, with a card.

    ``parity: official``: a pretrained AE the official code tabulates (:data:`OFFICIAL_LATENT_BACKGROUNDS`, by hub id)
    gets the tabulated latent background instead of the computed one."""
    out_dir, name = Path(out_dir), spec["name"]
    key = "path" if spec.get("path") else "hub_id"  # a path is never looked up on the hub
    source = spec[key]
    ae = load_autoencoder(source, device, subfolder=spec.get("subfolder"), key=key)
    card = AutoencoderCard(
        name=name,
        kind="pretrained",
        source=str(source),
        latent_channels=ae.config.latent_channels,
        downsample=downsample_factor(ae),
        latent_scale=spec.get("latent_scale", 0.02),
        latent_background=[],
    )
    card.latent_background = latent_background(ae, card.normalizer, spec["image_size"], device).tolist()
    if check_parity(parity) == "official" and spec.get("hub_id") in OFFICIAL_LATENT_BACKGROUNDS:
        card.latent_background = list(OFFICIAL_LATENT_BACKGROUNDS[spec["hub_id"]])
        card.recipe = {"parity": parity, "latent_background": "the official code's table"}
    elif parity == "official":
        log(f"{name}: parity official, but the official code tabulates no background for {source}: computed")
    save_autoencoder(ae, out_dir, card)
    log(f"{name}: {source} loaded, background {np.round(card.latent_background, 3).tolist()}")
    return card


def prepare_trained(
    spec: dict, out_dir, real_dir=None, use_shipped: bool = True, device="cpu", log=print
) -> AutoencoderCard:
    """Write ``out_dir`` for a ``trained`` entry: its shipped ``checkpoint`` (with ``use_shipped``), once the card's
    recipe is checked against the entry's ``training``, or a standard AE trained on the real images of ``real_dir``."""
    out_dir, name = Path(out_dir), spec["name"]
    if spec.get("checkpoint") and use_shipped:
        checkpoint = Path(spec["checkpoint"])
        _, card = load_with_card(checkpoint, "cpu")  # checks the weights against the card's sha256
        if spec.get("sha256") and spec["sha256"] != card.sha256:
            raise AutoencoderError(f"{checkpoint}: sha256 {card.sha256} differs from config's {spec['sha256']}")
        recipe = asdict(AETrainingConfig(**spec.get("training", {})))
        if card.recipe.get("training") != recipe:
            changed = sorted(k for k in recipe if card.recipe.get("training", {}).get(k) != recipe[k])
            raise AutoencoderError(
                f"config: autoencoders.{name}.training differs from the recipe of the shipped checkpoint {checkpoint} "
                f"(keys: {', '.join(changed)}); set use_shipped_checkpoints: false to train with the new recipe"
            )
        _copy_folder(checkpoint, out_dir)
        log(f"{name}: shipped checkpoint {checkpoint} (sha256 {card.sha256}); recipe: {json.dumps(card.recipe)}")
        return card
    images, test_images = load_real_images(real_dir, "train"), load_real_images(real_dir, "test")
    ae, card = train_standard_autoencoder(
        images, AETrainingConfig(**spec.get("training", {})), name, device, log, test_images=test_images
    )
    return save_autoencoder(ae, out_dir, card)


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


def _check_shipped_igae(spec: dict, checkpoint: Path, card: AutoencoderCard, expected: dict) -> None:
    """Refuse a shipped IG-AE whose recipe, base AE or training data differ from what this config would train."""
    name, recipe = spec["name"], card.recipe
    remedy = (
        f"to train one with this config instead: --forcerun train_igae --config use_shipped_checkpoints=False, or "
        f"drop autoencoders.{name}.checkpoint"
    )
    if recipe.get("parity", "paper") != expected["parity"]:
        raise AutoencoderError(
            f"config: parity = {expected['parity']!r}, but the shipped checkpoint {checkpoint} was trained with parity "
            f"{recipe.get('parity', 'paper')!r}; {remedy}"
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
            f"config: autoencoders.{name}.base = {spec['base']!r} (sha256 {expected['base_sha256'][:12]}…) is not the "
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


def scene_split(data, parity: str = "paper", eval_fraction: float | None = None) -> tuple[list[int], list[int]]:
    """(train, eval) view indices of a loaded scene: its written split (the first ceil(V · eval_fraction) views
    eval), or under ``parity: official`` the official ``ObjectDataset``'s first floor(V · eval_fraction)
    (:func:`igae.scenes.dataset_io.official_eval_count`), which needs the scene dataset's ``eval_fraction``."""
    if check_parity(parity) == "paper":
        return list(data.train_indices), list(data.eval_indices)
    if eval_fraction is None:
        raise ValueError("igae: parity official splits the IG-AE's scenes itself: give the scenes' eval_fraction")
    count = official_eval_count(len(data.images), eval_fraction)
    return list(range(count, len(data.images))), list(range(count))


def train_igae_job(
    spec: dict,
    base_dir,
    scenes_dir,
    real_dir,
    out_dir,
    device="cpu",
    log=print,
    use_shipped: bool = True,
    parity: str = "paper",
    scene_eval_fraction: float | None = None,
) -> AutoencoderCard:
    """Fine-tune the base AE into an IG-AE on the train views of every scene of ``scenes_dir``; save it.

    With ``use_shipped`` and a ``checkpoint`` in ``spec``, copy that shipped IG-AE instead, after checking that its
    card's recipe, base AE and training data (sha256) are those this config would train with.

    ``parity: official`` (docs/paper.md#deviations): the official training behaviours
    (:data:`igae.igae_config.OFFICIAL_TRAINING`, :func:`igae.igae_config.igae_parity`), the official split of the
    scenes (:func:`scene_split`, with ``scene_eval_fraction``) and the base AE's latent background for the IG-AE's
    latent NeRFs, instead of one recomputed from the fine-tuned weights."""
    check_parity(parity)
    config, perceptual_kind = igae_training_config(epochs_to_steps(spec.get("training", {}), 1, parity), device, parity)
    shipped = Path(spec["checkpoint"]) if spec.get("checkpoint") and use_shipped else None
    # first, so that missing LPIPS weights stop the job before the data is loaded
    wants_perceptual = config.loss.ae_real_perceptual and shipped is None
    perceptual = build_perceptual_loss(perceptual_kind if wants_perceptual else "none", device)
    ae, base_card = load_with_card(base_dir, device)
    folders = scene_folders(scenes_dir)
    # train views only; images kept as uint8 on the host (batches are converted on the device, same numbers)
    scene_data = [load_scene(folder) for folder in folders]
    splits = [scene_split(data, parity, scene_eval_fraction) for data in scene_data]  # (train, eval) indices
    scenes = [
        SceneViews.from_scene_data(data, train, uint8=True) for data, (train, _) in zip(scene_data, splits, strict=True)
    ]
    train_views = sum(len(scene.images) for scene in scenes)
    training = spec.get("training", {})
    config, _ = igae_training_config(epochs_to_steps(training, train_views, parity), device, parity)
    behaviours = igae_parity(training, train_views, parity)
    if parity == "official":  # the official code renders every Tri-Plane over the base AE's (tabulated) background
        config.background = list(base_card.latent_background)
    real = load_real_images(real_dir, "train", uint8=True)  # (N, 3, H, W) uint8
    data_sha256 = igae_data_sha256(scenes, real)
    if shipped is not None:
        _, card = load_with_card(shipped, "cpu")  # checks the weights against the card's sha256
        expected = {"training": asdict(config), "base_sha256": base_card.sha256, "parity": parity, **data_sha256}
        _check_shipped_igae(spec, shipped, card, expected)
        _copy_folder(shipped, out_dir)
        log(f"{spec['name']}: shipped checkpoint {shipped} (sha256 {card.sha256}); recipe, base and data match")
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
        f"{spec['name']}: IG-AE from {base_card.name} on {len(scenes)} scenes, {len(real)} real images, "
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
    parity_record = {} if parity == "paper" else {"parity": parity, "parity_behaviours": asdict(behaviours)}
    card = AutoencoderCard(
        name=spec["name"],
        kind="igae",
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
            "seconds": sum(entry["seconds"] for entry in result.history),
            "device": str(device),
            "curves": result.curves,
            **parity_record,
        },
    )
    card.latent_background = latent_background(ae, card.normalizer, scenes[0].images.shape[-1], device).tolist()
    if parity == "official":  # the official extension composites every latent NeRF over the base AE's background
        card.latent_background = list(base_card.latent_background)

    def write_extras(folder: Path) -> None:
        planes = {"planes": result.triplanes.planes.detach().cpu().contiguous()}
        planes.update({f"mlp.{k}": v.detach().cpu().contiguous() for k, v in result.decoder.state_dict().items()})
        save_file(planes, str(folder / "triplanes.safetensors"))
        (folder / "training_history.json").write_text(json.dumps(result.history))

    return save_autoencoder(ae, out_dir, card, extras=write_extras)


@torch.no_grad()
def _reconstruction_rows(ae, images: torch.Tensor, device, batch: int = 16) -> list[dict]:
    """Per-image metrics of D(E(x)) vs x; images (N, 3, H, W) in [-1, 1]."""
    rows = []
    for start in range(0, len(images), batch):
        x = images[start : start + batch].to(device)
        rows += per_image_metrics(to_unit_hwc(reconstruct(ae, x)), to_unit_hwc(x))
    return rows


def scene_folders(dataset_dir) -> list[Path]:
    """The scene folders of a dataset, in name order (hidden leftovers of interrupted writes skipped)."""
    return sorted(p for p in Path(dataset_dir).iterdir() if p.is_dir() and not p.name.startswith("."))


def evaluate_autoencoder(
    ae_dir, scene_datasets, real_dir, out_file, name=None, config=None, device="cpu", log=print
) -> dict:
    """Reconstruction on every view of the benchmark scenes (no AE trains on them; check_config ensures it) and
    on the real test split. ``name``: the config entry's name (a shipped card may carry another)."""
    ae, card = load_with_card(ae_dir, device)
    name = name or card.name
    views = []
    for dataset in scene_datasets:
        for folder in scene_folders(dataset):
            views.append(torch.from_numpy(np.asarray(load_scene(folder).images)).permute(0, 3, 1, 2) * 2 - 1)
    data = {"synthetic": torch.cat(views), "real": load_real_images(real_dir, "test")}
    rows = []
    for data_name, images in data.items():
        per_image = _reconstruction_rows(ae, images.float(), device)
        mean = summarize(per_image)
        rows.append(
            {
                "data": data_name,
                "psnr": mean["psnr"],
                "ssim": mean["ssim"],
                "lpips": mean["lpips"],
                "n_images": len(per_image),
            }
        )
        log(f"{name} on {data_name}: PSNR {mean['psnr']:.2f} dB, SSIM {mean['ssim']:.3f} ({len(per_image)} images)")
    available, reason = lpips_status()
    result = {
        "autoencoder": name,
        "rows": rows,
        "lpips_reason": None if available else reason,
        "protocol": DEFAULT_PROTOCOL.as_dict(),
        "provenance": provenance(config or {}, ae_sha256=card.sha256, device=device),
    }
    atomic_write_json(out_file, result)
    return result
