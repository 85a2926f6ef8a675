"""Latent targets: each (autoencoder, scene) is encoded once and shared by every method fitted on it.

File format (``results/latents/{ae}/{dataset}/{scene}.safetensors``): one tensor ``latents`` (V, C, H/f, W/f) of raw
(un-normalised) posterior means (``parity: official``: one posterior sample per frame, metadata ``posterior``), frames
in ``transforms.json`` order, and string metadata ``file_paths`` (a JSON list of the frames' ``file_path``),
``autoencoder_sha256`` and ``latent_scale``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from igae.ae.autoencoder import AutoencoderCard, encode
from igae.files import atomic_write_bytes, file_sha256
from igae.metrics import read_rgb


def read_frames(scene_dir: str | Path) -> list[str]:
    """The frames' ``file_path`` of a nerfstudio-format scene, in file order."""
    path = Path(scene_dir) / "transforms.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {scene_dir} is not a nerfstudio-format scene")
    try:
        return [frame["file_path"] for frame in json.loads(path.read_text())["frames"]]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is malformed ({error})") from error


OFFICIAL_SAMPLE_SEED = 1234
"""Seed of the posterior samples of ``parity: official`` targets (the official extension's seed)."""


@torch.no_grad()
def encode_scene(
    ae,
    card: AutoencoderCard,
    scene_dir: str | Path,
    out_file: str | Path,
    device="cpu",
    batch=8,
    sample: bool = False,
    seed: int = OFFICIAL_SAMPLE_SEED,
):
    """Encode every frame of a scene and write the latents file atomically: the posterior mean, or with ``sample``
    (``parity: official``) one posterior sample per frame, as the official extension, drawn from ``seed``."""
    scene_dir, out_file = Path(scene_dir), Path(out_file)
    file_paths = read_frames(scene_dir)
    generator = torch.Generator(device=device).manual_seed(seed) if sample else None
    latents = []
    for start in range(0, len(file_paths), batch):
        images = torch.stack([read_rgb(scene_dir / p) for p in file_paths[start : start + batch]])
        images = images.permute(0, 3, 1, 2).to(device) * 2 - 1  # (B, 3, H, W) in [-1, 1]
        latents.append(encode(ae, images, sample=sample, generator=generator).float().cpu())  # (B, C, H/f, W/f)
    metadata = {
        "file_paths": json.dumps(file_paths),
        "transforms_sha256": file_sha256(scene_dir / "transforms.json"),
        "autoencoder_sha256": card.sha256,
        "latent_scale": repr(card.latent_scale),
        **({"posterior": f"sample, seed {seed}"} if sample else {}),
    }
    # safetensors' save_file makes the file private (0600); results are shared like any other file
    atomic_write_bytes(out_file, safetensors_bytes({"latents": torch.cat(latents).contiguous()}, metadata=metadata))


def load_latents(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """{file_path: (C, h, w) raw latent}, metadata."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"latents file {path} does not exist; run `igae encode` (or the encode rule) first")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
        file_paths = json.loads(metadata["file_paths"])
    except Exception as error:
        raise ValueError(
            f"{path} is not a valid latents file ({type(error).__name__}: {error}); re-encode it"
        ) from error
    latents = tensors["latents"]
    if len(file_paths) != latents.shape[0]:
        raise ValueError(f"{path}: {len(file_paths)} file paths for {latents.shape[0]} latents")
    return dict(zip(file_paths, latents, strict=True)), metadata


def check_latents_match(path: str | Path, card: AutoencoderCard, scene_dir: str | Path) -> None:
    """Raise if a latents file was not encoded from ``scene_dir`` with the autoencoder of ``card``."""
    _, metadata = load_latents(path)
    if metadata.get("autoencoder_sha256") != card.sha256:
        raise ValueError(
            f"{path} was encoded with autoencoder {metadata.get('autoencoder_sha256', '?')[:12]}…, not with "
            f"{card.name} ({card.sha256[:12]}…); re-encode the scene with this autoencoder"
        )
    scene_sha = file_sha256(Path(scene_dir) / "transforms.json")
    if metadata.get("transforms_sha256") != scene_sha:
        raise ValueError(f"{path} was not encoded from {scene_dir} (its transforms.json differs); re-encode it")
