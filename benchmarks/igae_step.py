"""Seconds per step and peak memory of the IG-AE joint phase (:func:`igae.ae.igae_training.train_igae`) at given sizes.

    .venv/bin/python benchmarks/igae_step.py --device cpu --scenes 4 --real-images 64 --steps 3 --image-size 32 \
        --ae-channels 16,16,16,16 --perceptual none                                  # CPU smoke test, ~20 s
    .venv/bin/python benchmarks/igae_step.py --device cuda --autoencoder assets/autoencoders/standard        # paper
    .venv/bin/python benchmarks/igae_step.py --device cuda --autoencoder assets/autoencoders/standard --amp  # + bf16

The data are random and made here (no download): ``--scenes`` x ``--views-per-scene`` synthetic views and
``--real-images`` real images, all uint8 (N, 3, S, S) on the host as ``train_igae`` keeps them, with orbit cameras.
Defaults are the paper's sizes (docs/paper.md#ig-ae-schedule, #training-data): 500 scenes, 45,000 real images of
128 px, batches of 12 views + 3 real images, Tri-Planes 64² x 32 features, 48 + 48 samples per ray. The views per
scene are not known (50 here).

The run is the joint phase alone (no warm-up phase): ``--warmup-steps`` untimed steps, then ``--steps`` timed ones;
each step's wall time is synchronised with the device (:func:`igae.timing.synchronize`) and the result is their
median. Peak memory is CUDA's max allocated during the training (the process' max RSS on the CPU, data included).
On a 2-core CPU a 128-px step takes tens of seconds (the AE's passes over 15 + 27 images): use small sizes there.
Prints one line of JSON; ``--out`` also writes it to a file.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from igae.ae.autoencoder import LatentNormalizer, load_with_card, small_autoencoder
from igae.ae.igae_training import SceneViews, seconds_per_step, train_igae
from igae.ae.training_configs import IGAETrainingConfig, LatentTriPlaneConfig, TriPlaneRenderConfig
from igae.metrics import build_perceptual_loss
from igae.timing import peak_memory_mb, reset_peak_memory, synchronize


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda")
    parser.add_argument("--scenes", type=int, default=500, help="synthetic scenes (paper: 500)")
    parser.add_argument("--views-per-scene", type=int, default=50, help="views per scene (unknown in the paper)")
    parser.add_argument("--real-images", type=int, default=45000, help="real images (paper: 45,000)")
    parser.add_argument("--image-size", type=int, default=128, help="side of every image (paper: 128)")
    parser.add_argument("--batch-views", type=int, default=12, help="synthetic views per step (paper: 12)")
    parser.add_argument("--batch-real", type=int, default=3, help="real images per step (paper: 3)")
    parser.add_argument("--resolution", type=int, default=64, help="Tri-Plane resolution (paper: 64)")
    parser.add_argument("--features", type=int, default=32, help="Tri-Plane features (paper: 32)")
    parser.add_argument("--hidden", type=int, default=LatentTriPlaneConfig.hidden, help="Tri-Plane MLP width")
    parser.add_argument("--n-coarse", type=int, default=48, help="coarse samples per ray (paper: 48)")
    parser.add_argument("--n-fine", type=int, default=48, help="fine samples per ray (paper: 48)")
    parser.add_argument("--steps", type=int, default=20, help="timed joint steps")
    parser.add_argument("--warmup-steps", type=int, default=3, help="untimed joint steps before them")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast of the forward passes (CUDA only)")
    parser.add_argument(
        "--autoencoder",
        default=None,
        help="AE folder (card.json), e.g. assets/autoencoders/standard; default: "
        "igae.ae.autoencoder.small_autoencoder(), randomly initialised (16 channels, f8)",
    )
    parser.add_argument(
        "--ae-channels",
        default="32,64,128,128",
        help="block widths of the default AE (4 blocks: f8), e.g. 8,8,8,8 for a quick smoke test",
    )
    parser.add_argument(
        "--perceptual",
        default="auto",
        help="perceptual loss on the real images: auto (LPIPS-AlexNet, else the "
        "offline ST-LPIPS), none, lpips-alex, stlpips-alex; unavailable = timed without it (reported)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and of the training")
    parser.add_argument("--out", default=None, help="also write the JSON result to this file")
    return parser.parse_args(argv)


def random_uint8_images(count: int, size: int, device: torch.device, seed: int, chunk: int = 4096) -> torch.Tensor:
    """(count, 3, size, size) uniform random uint8 on the host; drawn on the GPU (and copied) when ``device`` is."""
    images = torch.empty((count, 3, size, size), dtype=torch.uint8)
    if device.type == "cuda":
        generator = torch.Generator(device=device).manual_seed(seed)
        for start in range(0, count, chunk):
            part = images[start : start + chunk]
            part.copy_(torch.randint(0, 256, part.shape, dtype=torch.uint8, device=device, generator=generator))
    else:
        rng = np.random.default_rng(seed)
        for start in range(0, count, chunk):
            part = images[start : start + chunk]
            part.numpy()[...] = rng.integers(0, 256, part.shape, dtype=np.uint8)
    return images


def orbit_cameras(views: int, generator: torch.Generator) -> torch.Tensor:
    """(views, 4, 4) OpenCV c2w at random places on a sphere of radius 1.3, looking at the origin."""
    azimuth = torch.rand(views, generator=generator) * 2 * math.pi
    elevation = (torch.rand(views, generator=generator) - 0.5) * math.pi / 2
    position = 1.3 * torch.stack(
        [elevation.cos() * azimuth.sin(), -elevation.sin(), -elevation.cos() * azimuth.cos()], dim=-1
    )  # (V, 3)
    forward = -position / position.norm(dim=-1, keepdim=True)
    right = torch.linalg.cross(torch.tensor([0.0, 1.0, 0.0]).expand_as(forward), forward)
    right = right / right.norm(dim=-1, keepdim=True)
    down = torch.linalg.cross(forward, right)
    c2w = torch.eye(4).repeat(views, 1, 1)
    c2w[:, :3, 0], c2w[:, :3, 1], c2w[:, :3, 2], c2w[:, :3, 3] = right, down, forward, position
    return c2w


def make_scenes(args: argparse.Namespace, device: torch.device) -> list[SceneViews]:
    """``args.scenes`` scenes of random uint8 views (views of one host tensor) and orbit cameras."""
    views = random_uint8_images(args.scenes * args.views_per_scene, args.image_size, device, args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    intrinsics = torch.tensor([[1.09375, 0.0, 0.5], [0.0, 1.09375, 0.5], [0.0, 0.0, 1.0]])
    per_scene = args.views_per_scene
    return [
        SceneViews(
            images=views[i * per_scene : (i + 1) * per_scene],  # (V, 3, S, S) uint8
            c2w_opencv=orbit_cameras(per_scene, generator),
            intrinsics_normalized=intrinsics.expand(per_scene, 3, 3).clone(),
        )
        for i in range(args.scenes)
    ]


def load_autoencoder(folder: str | None, channels: str, device: torch.device):
    """(AE, normaliser, name): a card folder, or a fresh small_autoencoder with these block widths."""
    if folder is None:
        widths = tuple(int(width) for width in channels.split(","))
        torch.manual_seed(0)
        ae = small_autoencoder(16, widths, norm_num_groups=math.gcd(16, *widths))
        return ae, LatentNormalizer(), f"small_autoencoder {channels} (random)"
    ae, card = load_with_card(folder, device)
    return ae, card.normalizer, f"{card.name} ({folder})"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = torch.device(args.device)
    started = time.perf_counter()
    scenes = make_scenes(args, device)
    real = random_uint8_images(args.real_images, args.image_size, device, args.seed + 1)  # (N, 3, S, S) uint8
    host_data_mb = (sum(scene.images.nbytes for scene in scenes) + real.nbytes) / 2**20
    data_seconds = time.perf_counter() - started

    ae, normalizer, ae_name = load_autoencoder(args.autoencoder, args.ae_channels, device)
    try:
        perceptual = build_perceptual_loss(args.perceptual, device)
        perceptual_label = perceptual.label if perceptual is not None else "none"
    except (FileNotFoundError, ImportError, OSError) as error:
        print(
            f"igae_step: perceptual loss {args.perceptual!r} unavailable ({error}); timing without it", file=sys.stderr
        )
        perceptual, perceptual_label = None, f"none ({args.perceptual} unavailable)"
    config = IGAETrainingConfig(
        warmup_steps=0,
        joint_steps=args.warmup_steps + args.steps,
        batch_views=args.batch_views,
        batch_real=args.batch_real,
        triplanes=LatentTriPlaneConfig(
            resolution=args.resolution,
            features=args.features,
            hidden=args.hidden,
            render=TriPlaneRenderConfig(n_coarse=args.n_coarse, n_fine=args.n_fine),
        ),
        seed=args.seed,
        device=str(device),
        amp=args.amp,
        log_every=10**9,
    )
    synchronize(device)
    reset_peak_memory(device)
    training_started = time.perf_counter()
    result = train_igae(ae, normalizer, scenes, real, config, perceptual=perceptual, log=lambda line: None)
    synchronize(device)
    training_seconds = time.perf_counter() - training_started
    joint = [entry for entry in result.history if entry["phase"] == "joint"]

    output = {
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "cpu": platform.processor() or platform.machine(),
        "amp": bool(args.amp and device.type == "cuda"),
        "s_per_step": seconds_per_step(result.history, "joint", skip_first=args.warmup_steps),
        "peak_mem_mb": peak_memory_mb(device),
        "peak_mem_kind": "cuda max allocated" if device.type == "cuda" else "process max RSS",
        "host_data_mb": host_data_mb,
        "scenes": args.scenes,
        "views_per_scene": args.views_per_scene,
        "real_images": args.real_images,
        "image_size": args.image_size,
        "batch_views": args.batch_views,
        "batch_real": args.batch_real,
        "triplane_resolution": args.resolution,
        "features": args.features,
        "hidden": args.hidden,
        "n_coarse": args.n_coarse,
        "n_fine": args.n_fine,
        "steps": args.steps,
        "warmup_steps": args.warmup_steps,
        "autoencoder": ae_name,
        "perceptual": perceptual_label,
        "final_total_loss": joint[-1]["total"] if joint else None,
        "data_seconds": data_seconds,
        "training_seconds": training_seconds,
        "total_seconds": time.perf_counter() - started,
        "torch": torch.__version__,
    }
    line = json.dumps(output)
    print(line)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(line + "\n")
    return output


if __name__ == "__main__":
    main()
