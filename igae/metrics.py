"""Image metrics under one named, pinned protocol, and the perceptual training losses.

The protocol ("igae-v1", :class:`MetricProtocol`) fixes everything that moves a PSNR/SSIM/LPIPS number:

- images are float tensors in [0, 1], channels last: renders are clamped to [0, 1] and are *not* rounded to uint8;
  ground truth is read from uint8 PNGs (``/ 255``);
- PSNR = 10 log10(1 / MSE) per image (data range 1), the MSE floored at 1e-10 so identical images give 100 dB, not inf;
- SSIM: Gaussian window 11x11, sigma 1.5, K1 = 0.01, K2 = 0.03, data range 1, population (co)variances, computed per
  channel on the "valid" region (windows that lie fully inside the image) and averaged over channels and pixels.
  This is the definition of Wang et al. 2004 as implemented by ``skimage.metrics.structural_similarity(...,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1)`` and by
  ``torchmetrics.functional.structural_similarity_index_measure`` (defaults); ours is written out in torch below and
  matches both (``tests/test_metrics.py``; agreement to ~1e-7, float64 here vs float32 in torchmetrics);
- LPIPS: the original LPIPS v0.1 with the AlexNet backbone ("alex", as in the paper's code), inputs scaled to [-1, 1].
  It needs torchvision's ImageNet AlexNet weights (``alexnet-owt-7be5be79.pth`` in ``torch.hub.get_dir()/checkpoints``).
  Nothing here ever downloads them: when the file is absent, LPIPS is reported as ``None`` together with the reason
  (:func:`lpips_status`). A number from random weights is never reported.

Per-image metrics are averaged over images (:func:`summarize`), as nerfstudio does for its eval images.

Perceptual *training losses* (:func:`build_perceptual_loss`) are separate from the metric: "lpips-alex" is LPIPS itself
(needs the AlexNet file), "stlpips-alex" is the shift-tolerant LPIPS of the ``stlpips-pytorch`` package whose weights
ship inside its wheel (available offline, but it is *not* LPIPS and is labelled as such).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import os
import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from igae.images import load_rgb

ALEXNET_WEIGHTS_FILE = "alexnet-owt-7be5be79.pth"
"""torchvision's ImageNet AlexNet weights (``AlexNet_Weights.IMAGENET1K_V1``); the 8 hex digits prefix its sha256."""
ALEXNET_WEIGHTS_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
ALEXNET_SHA256_PREFIX = "7be5be79"

LPIPS_MIN_SIZE = 31
"""LPIPS-AlexNet's feature pyramid needs images of at least 31x31 pixels."""
STLPIPS_MIN_SIZE = 21
"""The shift-tolerant AlexNet of stlpips-pytorch needs images of at least 21x21 pixels."""


@dataclass(frozen=True)
class MetricProtocol:
    """How every image metric of the benchmark is computed; ``as_dict()`` is recorded in every result file."""

    name: str = "igae-v1"
    """Name of this protocol; change it whenever any field below changes."""
    data_range: float = 1.0
    """Images are floats in [0, data_range]; renders clamped, ground truth read from uint8 PNG / 255."""
    round_renders_to_uint8: bool = False
    """Renders are compared as floats, not rounded to 8 bits first."""
    psnr_mse_floor: float = 1e-10
    """PSNR = 10 log10(data_range^2 / max(MSE, floor)): identical images give 100 dB instead of inf."""
    ssim_window: int = 11
    """Side of the Gaussian SSIM window (pixels)."""
    ssim_sigma: float = 1.5
    """Standard deviation of the Gaussian SSIM window (pixels)."""
    ssim_k1: float = 0.01
    """SSIM stabiliser C1 = (K1 * data_range)^2."""
    ssim_k2: float = 0.03
    """SSIM stabiliser C2 = (K2 * data_range)^2."""
    ssim_reduction: str = "valid-region, per channel, mean over channels and pixels"
    """SSIM map over windows fully inside the image (as skimage and torchmetrics), averaged."""
    lpips_net: str = "alex"
    """LPIPS v0.1 backbone: AlexNet, as the paper's code (torchmetrics' default)."""
    lpips_input_range: str = "[-1, 1]"
    """LPIPS inputs are images scaled from [0, 1] to [-1, 1]."""
    image_reduction: str = "per image, then mean over images"
    """How a set of eval views becomes one number."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_PROTOCOL = MetricProtocol()


# ---------------------------------------------------------------------------------------------------------------------
# PSNR and SSIM
# ---------------------------------------------------------------------------------------------------------------------


def _as_batch(image: torch.Tensor, name: str) -> torch.Tensor:
    """(H, W, C) or (B, H, W, C) -> (B, H, W, C)."""
    if image.ndim == 3:
        return image[None]
    if image.ndim == 4:
        return image
    raise ValueError(f"igae.metrics: {name} must be (H, W, C) or (B, H, W, C); got shape {tuple(image.shape)}")


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pred, target = _as_batch(pred, "pred"), _as_batch(target, "target")
    if pred.shape != target.shape:
        raise ValueError(
            f"igae.metrics: pred and target must have the same shape; got {tuple(pred.shape)} vs {tuple(target.shape)}"
        )
    return pred, target.to(pred.device)


def psnr(pred: torch.Tensor, target: torch.Tensor, protocol: MetricProtocol = DEFAULT_PROTOCOL) -> torch.Tensor:
    """PSNR in dB of each image. pred, target: (H, W, C) or (B, H, W, C) in [0, data_range]. Returns (B,)."""
    pred, target = _check_pair(pred, target)
    mse = (pred.double() - target.double()).square().flatten(1).mean(dim=1)  # (B,)
    return 10.0 * torch.log10(protocol.data_range**2 / mse.clamp_min(protocol.psnr_mse_floor))


def _gaussian_window_1d(size: int, sigma: float, device: torch.device) -> torch.Tensor:
    offsets = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    window = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return window / window.sum()  # (size,)


def ssim(pred: torch.Tensor, target: torch.Tensor, protocol: MetricProtocol = DEFAULT_PROTOCOL) -> torch.Tensor:
    """SSIM of each image (Wang et al. 2004, Gaussian window). pred, target: (H, W, C) or (B, H, W, C). Returns (B,).

    Computed in float64 on the valid region: each channel separately, then the SSIM map averaged over channels and
    pixels. Images must be at least ``protocol.ssim_window`` pixels on each side.
    """
    pred, target = _check_pair(pred, target)
    batch, height, width, channels = pred.shape
    size = protocol.ssim_window
    if min(height, width) < size:
        raise ValueError(
            f"igae.metrics: SSIM needs images of at least {size}x{size} pixels (protocol {protocol.name}); "
            f"got {height}x{width}"
        )
    # Channels become batch entries so one separable single-channel filter serves all of them.
    x = pred.double().permute(0, 3, 1, 2).reshape(batch * channels, 1, height, width)  # (B*C, 1, H, W)
    y = target.double().permute(0, 3, 1, 2).reshape(batch * channels, 1, height, width)
    window = _gaussian_window_1d(size, protocol.ssim_sigma, pred.device)

    def local_mean(image: torch.Tensor) -> torch.Tensor:  # valid Gaussian filtering: (N, 1, H-size+1, W-size+1)
        image = F.conv2d(image, window.view(1, 1, size, 1))
        return F.conv2d(image, window.view(1, 1, 1, size))

    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x**2
    var_y = local_mean(y * y) - mu_y**2
    cov_xy = local_mean(x * y) - mu_x * mu_y
    c1 = (protocol.ssim_k1 * protocol.data_range) ** 2
    c2 = (protocol.ssim_k2 * protocol.data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.reshape(batch, -1).mean(dim=1)  # (B,): mean over channels and valid pixels


# ---------------------------------------------------------------------------------------------------------------------
# LPIPS (metric): availability, loading without any download
# ---------------------------------------------------------------------------------------------------------------------


def alexnet_weights_path() -> Path:
    """Where torchvision (and therefore LPIPS) looks for the ImageNet AlexNet weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_WEIGHTS_FILE


@lru_cache(maxsize=8)
def _file_sha256_prefix(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[: len(ALEXNET_SHA256_PREFIX)]


def lpips_status() -> tuple[bool, str]:
    """Whether LPIPS-AlexNet can be computed here, and why not. Reads files only; never downloads anything."""
    path = alexnet_weights_path()
    how_to = (
        f"To enable LPIPS, copy {ALEXNET_WEIGHTS_FILE} (from {ALEXNET_WEIGHTS_URL}, on a machine with network) to "
        f"{path} (or point TORCH_HOME at a folder holding hub/checkpoints/{ALEXNET_WEIGHTS_FILE})."
    )
    try:
        import lpips  # noqa: F401
    except ImportError as error:
        return False, f"LPIPS unavailable: the `lpips` package cannot be imported ({error}). pip install lpips."
    if not path.is_file():
        return False, f"LPIPS unavailable: torchvision's ImageNet AlexNet weights {path} do not exist. {how_to}"
    stat = path.stat()
    prefix = _file_sha256_prefix(str(path), stat.st_size, stat.st_mtime_ns)
    if prefix != ALEXNET_SHA256_PREFIX:
        return False, (
            f"LPIPS unavailable: {path} is not torchvision's AlexNet file (sha256 starts with {prefix}, expected "
            f"{ALEXNET_SHA256_PREFIX}). {how_to}"
        )
    return True, f"LPIPS-AlexNet v0.1 with torchvision ImageNet weights from {path}"


def _load_lpips_alex(alexnet_weights: Path, device: torch.device | str) -> torch.nn.Module:
    """LPIPS v0.1 AlexNet with its backbone loaded from ``alexnet_weights`` and its linear layers from the lpips
    package. Built with a random backbone first (``pnet_rand=True``) so that torchvision never reaches for the network,
    then every weight is loaded strictly from local files."""
    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's deprecation warning about `pretrained=`
        model = lpips.LPIPS(net="alex", version="0.1", pretrained=False, pnet_rand=True, verbose=False)
    # torchvision's alexnet.features.{i} sits at net.slice{k}.{i} in lpips (same module indices).
    backbone_state = torch.load(alexnet_weights, map_location="cpu", weights_only=True)
    remapped = {}
    for key in model.net.state_dict():  # key like "slice2.3.weight"
        source_key = "features." + key.split(".", 1)[1]
        if source_key not in backbone_state:
            raise ValueError(f"igae.metrics: {alexnet_weights} has no {source_key}: not torchvision's AlexNet weights")
        remapped[key] = backbone_state[source_key]
    model.net.load_state_dict(remapped, strict=True)
    linear_path = Path(inspect.getfile(lpips)).parent / "weights" / "v0.1" / "alex.pth"
    linear_state = torch.load(linear_path, map_location="cpu", weights_only=True)
    linear_keys = [key for key in model.state_dict() if key.startswith("lin") and not key.startswith("lins.")]
    if sorted(linear_keys) != sorted(linear_state):
        raise ValueError(f"igae.metrics: {linear_path} does not hold LPIPS's five linear layers")
    model.load_state_dict(linear_state, strict=False)
    model.eval().requires_grad_(False)
    return model.to(device)


@lru_cache(maxsize=4)
def _cached_lpips_alex(path: str, device: str) -> torch.nn.Module:
    return _load_lpips_alex(Path(path), device)


def _lpips_values(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """LPIPS-AlexNet of each image pair. pred, target: (B, H, W, 3) in [0, 1]. Returns (B,)."""
    height, width = pred.shape[1:3]
    if min(height, width) < LPIPS_MIN_SIZE:
        raise ValueError(
            f"igae.metrics: LPIPS-AlexNet needs images of at least {LPIPS_MIN_SIZE}px; got {height}x{width}"
        )
    model = _cached_lpips_alex(str(alexnet_weights_path()), str(pred.device))
    to_lpips = lambda image: image.float().permute(0, 3, 1, 2) * 2 - 1  # noqa: E731  (B, 3, H, W) in [-1, 1]
    with torch.no_grad():
        return model(to_lpips(pred), to_lpips(target)).flatten()  # (B,)


# ---------------------------------------------------------------------------------------------------------------------
# Public metric entry points
# ---------------------------------------------------------------------------------------------------------------------


def per_image_metrics(
    pred: torch.Tensor, target: torch.Tensor, protocol: MetricProtocol = DEFAULT_PROTOCOL
) -> list[dict[str, float | None]]:
    """PSNR, SSIM and LPIPS (None when unavailable) of each image. pred, target: (B, H, W, 3) or (H, W, 3) in [0, 1]."""
    pred, target = _check_pair(pred, target)
    if pred.shape[-1] != 3:
        raise ValueError(f"igae.metrics: RGB images must have 3 channels last; got shape {tuple(pred.shape)}")
    pred = pred.clamp(0.0, protocol.data_range)  # renders clamped, never rounded
    target = target.clamp(0.0, protocol.data_range)
    psnrs, ssims = psnr(pred, target, protocol).tolist(), ssim(pred, target, protocol).tolist()
    available, _ = lpips_status()
    lpipss = _lpips_values(pred, target).tolist() if available else [None] * len(psnrs)
    return [{"psnr": p, "ssim": s, "lpips": lp} for p, s, lp in zip(psnrs, ssims, lpipss, strict=True)]


def image_metrics(
    pred: torch.Tensor, target: torch.Tensor, protocol: MetricProtocol = DEFAULT_PROTOCOL
) -> dict[str, float | None]:
    """psnr, ssim, lpips (float or None when unavailable, see :func:`lpips_status`) of RGB images in [0, 1].

    pred, target: (H, W, 3) or (B, H, W, 3); for a batch, the mean of the per-image values.
    """
    per_image = per_image_metrics(pred, target, protocol)
    return {key: value for key, value in summarize(per_image).items() if not key.endswith("_std")}


def latent_metrics(
    pred: torch.Tensor, target: torch.Tensor, protocol: MetricProtocol = DEFAULT_PROTOCOL
) -> dict[str, float | None]:
    """PSNR and SSIM (data range 1) of latents already mapped to [0, 1]; any number C of channels, no LPIPS.

    pred, target: (H, W, C) or (B, H, W, C). Values are clamped to [0, 1]. SSIM is None for latents smaller than
    the SSIM window (e.g. 8x8 latents of 64-px images): the pinned protocol does not define it there.
    """
    pred, target = _check_pair(pred, target)
    pred, target = pred.clamp(0.0, 1.0), target.clamp(0.0, 1.0)
    latent_protocol = MetricProtocol(**{**protocol.as_dict(), "data_range": 1.0})
    psnr_value = psnr(pred, target, latent_protocol).mean().item()
    if min(pred.shape[1:3]) < protocol.ssim_window:
        return {"psnr": psnr_value, "ssim": None}
    return {"psnr": psnr_value, "ssim": ssim(pred, target, latent_protocol).mean().item()}


def summarize(per_image: list[dict[str, Any]]) -> dict[str, float | None]:
    """Mean and population std of every numeric key over images, ignoring None values.

    ``lpips`` is special: its mean is None as soon as one image has no LPIPS (a partial mean would not be comparable).
    Keys that are not numbers (e.g. "view") are skipped. Returns {key: mean, key + "_std": std}.
    """
    keys = [key for key in dict.fromkeys(k for row in per_image for k in row) if key != "view"]
    summary: dict[str, float | None] = {}
    for key in keys:
        values = [row.get(key) for row in per_image]
        if any(isinstance(v, str) for v in values):
            continue
        numbers = [float(v) for v in values if v is not None]
        if not numbers or (key == "lpips" and len(numbers) < len(values)):
            summary[key], summary[f"{key}_std"] = None, None
            continue
        summary[key] = float(np.mean(numbers))
        summary[f"{key}_std"] = float(np.std(numbers))
    return summary


def read_rgb(path: str | os.PathLike, background: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> torch.Tensor:
    """An 8-bit image file as a float (H, W, 3) tensor in [0, 1], its transparency composited onto ``background``:
    the pixels :func:`igae.images.load_rgb` gives training, as a tensor."""
    return torch.from_numpy(load_rgb(path, background))


# ---------------------------------------------------------------------------------------------------------------------
# Perceptual training losses
# ---------------------------------------------------------------------------------------------------------------------

PERCEPTUAL_KINDS = ("lpips-alex", "stlpips-alex", "auto", "none")


class PerceptualLoss:
    """A frozen perceptual network used as a training loss. Not an ``nn.Module`` on purpose: attached to a model it
    stays out of that model's parameters, ``state_dict`` and ``train()`` calls.

    ``loss(pred, target)``: images (B, 3, H, W) in [-1, 1] -> scalar mean over the batch; gradients flow to inputs.
    """

    def __init__(self, network: torch.nn.Module, label: str, min_size: int) -> None:
        self.network = network.eval().requires_grad_(False)
        self.label = label
        """What this loss really is, e.g. "stlpips-alex (shift-tolerant LPIPS, not LPIPS)"."""
        self.min_size = min_size

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.ndim != 4 or pred.shape[1] != 3 or pred.shape != target.shape:
            raise ValueError(
                f"igae.metrics: {self.label} takes two (B, 3, H, W) images in [-1, 1]; "
                f"got {tuple(pred.shape)} and {tuple(target.shape)}"
            )
        if min(pred.shape[2:]) < self.min_size:
            raise ValueError(
                f"igae.metrics: {self.label} needs images of at least {self.min_size}x{self.min_size}; "
                f"got {pred.shape[2]}x{pred.shape[3]} (crop or upsample larger patches)"
            )
        return self.network(pred, target).mean()

    def __repr__(self) -> str:
        return f"PerceptualLoss({self.label})"


def _build_stlpips_alex(device: torch.device | str) -> torch.nn.Module:
    from stlpips_pytorch import stlpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        network = stlpips.LPIPS(net="alex", variant="shift_tolerant", verbose=False)
    # stlpips loads with strict=False; make sure its wheel's file really covered every weight.
    weights_path = Path(inspect.getfile(stlpips)).parent / "weights" / "vST0.0" / "alex_shift_tolerant.pth"
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    uncovered = [k for k in network.state_dict() if k not in state and not k.startswith("lins.")]
    if uncovered:
        raise RuntimeError(f"igae.metrics: {weights_path} does not cover {uncovered}; stlpips-pytorch changed?")
    return network.to(device)


def build_perceptual_loss(kind: str, device: torch.device | str) -> PerceptualLoss | None:
    """The perceptual loss named by ``kind``: "lpips-alex", "stlpips-alex", "auto" or "none" (returns None).

    "lpips-alex" is LPIPS v0.1 (AlexNet) and raises when torchvision's AlexNet weights are absent; "stlpips-alex" is
    the shift-tolerant LPIPS shipped inside the stlpips-pytorch wheel (offline, *not* LPIPS); "auto" picks the first
    of the two that is available. Neither ever downloads anything.
    """
    if kind not in PERCEPTUAL_KINDS:
        raise ValueError(f"igae.metrics: perceptual loss {kind!r} is unknown (known: {', '.join(PERCEPTUAL_KINDS)})")
    if kind == "none":
        return None
    if kind == "auto":
        kind = "lpips-alex" if lpips_status()[0] else "stlpips-alex"
    if kind == "lpips-alex":
        available, reason = lpips_status()
        if not available:
            raise FileNotFoundError(f"igae.metrics: perceptual loss lpips-alex: {reason} Or use stlpips-alex / auto.")
        network = _load_lpips_alex(alexnet_weights_path(), device)
        return PerceptualLoss(network, "lpips-alex (LPIPS v0.1, AlexNet, ImageNet weights)", LPIPS_MIN_SIZE)
    network = _build_stlpips_alex(device)
    version = importlib.metadata.version("stlpips_pytorch")
    label = f"stlpips-alex (shift-tolerant LPIPS, stlpips-pytorch {version}; not LPIPS)"
    return PerceptualLoss(network, label, STLPIPS_MIN_SIZE)
