"""Image autoencoders: one loader for every AE, the latent normaliser, the latent background colour, and the card.

An autoencoder folder (``results/autoencoders/{ae}/``) is a diffusers folder (``config.json`` +
``diffusion_pytorch_model.safetensors``) plus ``card.json`` (:class:`AutoencoderCard`): what the AE is, how its
latents are normalised, its latent background colour and the sha256 of its weights. Every stage downstream reads
this folder and nothing else, so a pretrained hub AE, an AE trained here and an IG-AE are interchangeable.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from diffusers import AutoencoderKL, AutoencoderTiny

from igae.ae.hub import HUB_ID
from igae.files import atomic_folder

CARD_NAME = "card.json"
WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
AE_CLASSES = {"AutoencoderKL": AutoencoderKL, "AutoencoderTiny": AutoencoderTiny}
OFFICIAL_LATENT_BACKGROUNDS = {
    "ostris/vae-kl-f8-d16": [
        0.4090, 0.5550, 0.4015, 0.5846, 0.4492, 0.5380, 0.5314, 0.4108,
        0.5015, 0.6012, 0.4245, 0.5039, 0.4920, 0.4955, 0.5296, 0.4999,
    ],
    "runwayml/stable-diffusion-v1-5": [0.6176, 0.5711, 0.5046, 0.4422],
}  # fmt: skip
"""The official code's tabulated latent backgrounds by hub id (igae ``ae/trainers.py``, ``VAE_CONFIGS``), used for
every AE fine-tuned from them too; ``parity: official`` uses them instead of computing the background."""


def copy_checkpoint(source: Path, destination: Path) -> None:
    """Copy an AE folder (a shipped checkpoint) to ``destination``, atomically."""
    with atomic_folder(destination) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)


class AutoencoderError(RuntimeError):
    """An autoencoder cannot be loaded; the message says which one, why, and what to do."""


@dataclass
class LatentNormalizer:
    """Maps raw latents to [-1, 1] with tanh(scale * z), as the paper's code (docs/paper.md#autoencoder)."""

    scale: float = 0.02
    """Multiplier inside the tanh. 0.02 for the paper's hub AEs; AEs trained here get 0.5 / std(z)."""
    eps: float = 1e-4
    """Clamp margin before atanh, so denormalize stays finite."""

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.scale * z)

    def denormalize(self, y: torch.Tensor) -> torch.Tensor:
        return torch.atanh(y.clamp(-1 + self.eps, 1 - self.eps)) / self.scale

    def to_unit(self, z: torch.Tensor) -> torch.Tensor:
        """Raw latent -> [0, 1], the range latent NeRFs render (latent-nerfstudio's TanhNormalizer)."""
        return 0.5 * (self.normalize(z) + 1)

    def from_unit(self, u: torch.Tensor) -> torch.Tensor:
        return self.denormalize(2 * u - 1)


@dataclass
class AutoencoderCard:
    """What downstream stages need to know about an autoencoder folder, written as ``card.json``."""

    name: str
    """The config entry's name (``standard``, ``igae``, ...)."""
    kind: str
    """``pretrained`` (hub id or folder), ``trained`` (trained here on real images) or ``igae``."""
    source: str
    """Hub id or folder it was loaded from, or the base AE an IG-AE was fine-tuned from."""
    latent_channels: int
    downsample: int
    """Spatial down-sampling factor (8 for every AE of the paper)."""
    latent_scale: float
    """Scale of the tanh normaliser, see :class:`LatentNormalizer`."""
    latent_background: list[float]
    """Normalised latent of an all-white image, in [0, 1], one value per channel: the latent NeRF background."""
    sha256: str = ""
    """sha256 of the weights file; filled by :func:`save_autoencoder`."""
    recipe: dict = field(default_factory=dict)
    """How it was produced: training config, seed, steps, perceptual loss used, base AE sha256."""

    @property
    def normalizer(self) -> LatentNormalizer:
        return LatentNormalizer(scale=self.latent_scale)


def read_card(folder: str | Path) -> AutoencoderCard:
    path = Path(folder) / CARD_NAME
    if not path.is_file():
        raise AutoencoderError(f"{path} does not exist: {folder} is not an autoencoder folder made by igae-bench")
    try:
        return AutoencoderCard(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as error:
        raise AutoencoderError(f"{path} is malformed ({error}); re-run the rule that made it") from error


def _load_folder(folder: Path, device: str | torch.device) -> AutoencoderKL | AutoencoderTiny:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise AutoencoderError(f"{folder}: no config.json, so it is not a diffusers autoencoder folder")
    try:
        class_name = json.loads(config_path.read_text()).get("_class_name", "AutoencoderKL")
    except json.JSONDecodeError as error:
        raise AutoencoderError(f"{config_path} is not valid JSON ({error})") from error
    if class_name not in AE_CLASSES:
        raise AutoencoderError(f"{config_path}: _class_name {class_name!r} is not one of {sorted(AE_CLASSES)}")
    try:
        # float32 compute whatever the stored dtype (shipped checkpoints are stored as float16: store_autoencoder)
        ae = AE_CLASSES[class_name].from_pretrained(folder, torch_dtype=torch.float32)
    except Exception as error:  # diffusers raises OSError, ValueError or safetensors errors for a bad file
        raise AutoencoderError(f"{folder}: cannot load the weights ({type(error).__name__}: {error})") from error
    return ae.to(device).eval()


def load_autoencoder(
    source: str | Path, device: str | torch.device = "cpu", subfolder: str | None = None, key: str | None = None
):
    """Load a diffusers autoencoder from a local folder or a Hugging Face hub id.

    ``key`` is the config key ``source`` came from: "path" (a folder, never looked up on the hub), "hub_id" (an
    owner/name id), or None (a folder when it exists, else a hub id). A folder is read offline. A hub id needs the
    network (or the hub cache); when it cannot be had, the error says why first (offline, host unreachable), names the
    id and says how to use a local copy, instead of surfacing a traceback from deep inside huggingface_hub.
    """
    path = Path(source)
    if subfolder:
        path = path / subfolder
    if key == "path" or (key is None and path.exists()):
        if not path.exists():
            raise AutoencoderError(f"autoencoder folder {path} (`path`) does not exist (resolved: {path.resolve()})")
        return _load_folder(path, device)
    if not HUB_ID.fullmatch(str(source)):
        raise AutoencoderError(f"autoencoder folder {source} does not exist (and it is not a hub id like owner/name)")
    try:
        ae = AutoencoderKL.from_pretrained(str(source), subfolder=subfolder)
    except Exception as error:
        offline = offline_cause(error)
        if offline:
            raise AutoencoderError(
                f"cannot download autoencoder {source!r}: no network ({offline}), and the Hugging Face cache lacks "
                f"it. Download it where the network exists (huggingface-cli download {source} --local-dir <folder>) "
                "and set the autoencoder's `path: <folder>` in place of `hub_id`"
            ) from error
        raise AutoencoderError(
            f"cannot load autoencoder {source!r} from the Hugging Face hub ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}). Offline? Download it where the network exists "
            f"(huggingface-cli download {source} --local-dir <folder>) and set the autoencoder's `path: <folder>`"
        ) from error
    return ae.to(device).eval()


_NETWORK_ERRORS = {"ConnectionError", "ConnectError", "ConnectTimeout", "NameResolutionError", "MaxRetryError"}
"""Names of the requests / httpx / urllib3 exceptions that mean the host could not be reached."""


def offline_cause(error: BaseException) -> str | None:
    """Why a hub download failed for want of a network, or None: offline mode, or an unreachable host anywhere in
    ``error``'s chain (diffusers reports both as a missing config.json, the cause many lines up)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}:
        return "HF_HUB_OFFLINE=1 is set"
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        name = type(error).__name__
        if name in _NETWORK_ERRORS or isinstance(error, (ConnectionError, TimeoutError, socket.gaierror)):
            return f"{constants.ENDPOINT} is unreachable: {name}"
        error = error.__cause__ or error.__context__
    return None


def encode(ae, images: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, 3, H, W) images in [-1, 1] -> (B, C, H/f, W/f) raw latents (no scaling_factor, as the paper)."""
    if isinstance(ae, AutoencoderTiny):
        return ae.encode(images).latents
    posterior = ae.encode(images).latent_dist
    return posterior.sample(generator) if sample else posterior.mean


def decode(ae, latents: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """(B, C, h, w) raw latents -> (B, 3, h*f, w*f) images in [-1, 1] (``clamp``; else as the decoder outputs them)."""
    images = ae.decode(latents).sample
    return images.clamp(-1, 1) if clamp else images


def to_unit_hwc(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) images in [-1, 1] (as the AE sees them) -> (B, H, W, 3) float in [0, 1] (as metrics score them)."""
    return ((images + 1) / 2).permute(0, 2, 3, 1).float()


@torch.no_grad()
def reconstruct(ae, images: torch.Tensor) -> torch.Tensor:
    """D(E(x)): (B, 3, H, W) images in [-1, 1] -> their reconstructions, same shape and range (posterior mean)."""
    return decode(ae, encode(ae, images))


def downsample_factor(ae) -> int:
    if isinstance(ae, AutoencoderTiny):
        return 2 ** sum(1 for scale in ae.config.encoder_block_out_channels[1:])
    return 2 ** (len(ae.config.block_out_channels) - 1)


@torch.no_grad()
def latent_background(ae, normalizer: LatentNormalizer, image_size: int, device="cpu") -> torch.Tensor:
    """(C,) normalised latent of an all-white image in [0, 1]: the colour a latent NeRF composites over."""
    white = torch.ones(1, 3, image_size, image_size, device=device)
    return normalizer.to_unit(encode(ae, white)).mean(dim=(0, 2, 3)).cpu()


def weights_sha256(folder: str | Path) -> str:
    from igae.files import file_sha256

    return file_sha256(Path(folder) / WEIGHTS_NAME)


def save_autoencoder(ae, folder: str | Path, card: AutoencoderCard, extras=None) -> AutoencoderCard:
    """Save in diffusers format plus ``card.json``, atomically: a crash leaves no folder that looks complete.

    ``extras(tmp_folder)``, if given, writes further files (e.g. an IG-AE's Tri-Planes) before the folder is renamed.
    """
    with atomic_folder(folder) as tmp:
        ae.save_pretrained(tmp, safe_serialization=True)
        if extras is not None:
            extras(tmp)
        card.sha256 = weights_sha256(tmp)
        (tmp / CARD_NAME).write_text(json.dumps(asdict(card), indent=2) + "\n")
    return card


def store_autoencoder(
    source: str | Path, destination: str | Path, image_size: int, storage: str = "float16"
) -> AutoencoderCard:
    """Copy an autoencoder folder with its weights stored as ``storage`` (``float16`` halves a shipped checkpoint;
    it is loaded as float32). The card says so (``recipe.storage``), and its latent background is recomputed from
    the stored weights at ``image_size`` (the images the AE serves), so that everything downstream follows from the
    file alone. The training log and history files are copied; other safetensors files (an IG-AE's Tri-Planes) not."""
    dtypes = {"float16": torch.float16, "float32": torch.float32}
    if storage not in dtypes:
        raise ValueError(f"store_autoencoder: storage must be one of {sorted(dtypes)}, got {storage!r}")
    ae, card = load_with_card(source, "cpu")
    ae = ae.to(dtypes[storage]).float()  # the numbers the stored file will hold, as float32
    card.latent_background = latent_background(ae, card.normalizer, image_size).tolist()
    card.recipe = {**card.recipe, "storage": storage}

    def copy_records(folder: Path) -> None:  # the training log and history; not the Tri-Planes (nothing reads them)
        for path in sorted(Path(source).iterdir()):
            if path.is_file() and path.suffix in (".log", ".json") and path.name not in (CARD_NAME, "config.json"):
                shutil.copy2(path, folder / path.name)

    return save_autoencoder(ae.to(dtypes[storage]), destination, card, extras=copy_records)


def load_with_card(folder: str | Path, device: str | torch.device = "cpu"):
    """Load an igae-bench autoencoder folder: (ae, card). Checks the weights against the card's sha256."""
    card = read_card(folder)
    actual = weights_sha256(folder)
    if card.sha256 and actual != card.sha256:
        raise AutoencoderError(
            f"{folder}/{WEIGHTS_NAME} has sha256 {actual[:12]}…, the card says {card.sha256[:12]}…: the weights were "
            "changed or corrupted; delete the folder and re-run the rule that made it"
        )
    return _load_folder(Path(folder), device), card


def small_autoencoder(
    latent_channels: int = 16,
    block_out_channels: tuple[int, ...] = (32, 64, 128, 128),
    layers_per_block: int = 1,
    norm_num_groups: int = 16,
    image_size: int = 128,
) -> AutoencoderKL:
    """A small diffusers ``AutoencoderKL`` (f = 2^(len(blocks)-1)), randomly initialised, to be trained here."""
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(block_out_channels),
        up_block_types=("UpDecoderBlock2D",) * len(block_out_channels),
        block_out_channels=tuple(block_out_channels),
        layers_per_block=layers_per_block,
        latent_channels=latent_channels,
        norm_num_groups=norm_num_groups,
        sample_size=image_size,
    )
