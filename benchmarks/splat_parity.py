"""Parity of the two splatting backends on a GPU: gsplat's CUDA rasterizer vs the PyTorch compositor, same Gaussians.

    python3 benchmarks/splat_parity.py --out splat_parity.json        # on a CUDA machine (builds gsplat's extension)
    python3 benchmarks/splat_parity.py --device cpu --out parity.json  # the torch backend against itself (a rehearsal)

For each case (C = 3, 4 and 16 colour channels; a 16 x 16 latent view and a 128 x 128 RGB view; a few thousand
Gaussians, some behind the camera, a third nearly opaque so that rays stop), both backends render the same Gaussians
on the same device and backpropagate the same random weighting of image and alpha. The JSON gives, per case, the
max absolute difference of the image, the alpha, the gradient of every parameter and of the screen-space means
(plain and absolute, what densification reads), each beside the max absolute value of gsplat's, and both backends'
forward + backward milliseconds. gsplat's CUDA extension is built first (``TORCH_CUDA_ARCH_LIST`` defaults to the
GPU's own arch; the runner sets 9.0), and the build time is recorded.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from igae.nerf.components.rasterize import rasterize

CASES = [(channels, size) for size in (16, 128) for channels in (3, 4, 16)]
"""(colour channels, image side): the latent (16) and RGB (128) views of the benchmark."""


def gaussians(n: int, channels: int, device: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """``n`` Gaussians in front of a camera at the origin looking down +z, 1/10 behind it, a third nearly opaque."""
    generator = torch.Generator().manual_seed(seed)
    means = torch.cat(
        [(torch.rand(n, 2, generator=generator) - 0.5) * 1.6, 0.5 + 2 * torch.rand(n, 1, generator=generator)], 1
    )
    means[: n // 10, 2] *= -1
    opacity_logits = torch.randn(n, generator=generator)
    opacity_logits[: n // 3] = 8.0
    params = {
        "means": means,
        "quats": torch.randn(n, 4, generator=generator),
        "log_scales": math.log(0.01) + 2 * torch.rand(n, 3, generator=generator),
        "opacity_logits": opacity_logits,
        "colors": torch.rand(n, channels, generator=generator),
    }
    return {name: value.to(device) for name, value in params.items()}


def render(params: dict, size: int, backend: str, weights: torch.Tensor) -> tuple[dict, float]:
    leaves = {name: value.clone().requires_grad_(True) for name, value in params.items()}
    focal = 1.09375 * size  # the scenes' normalised focal
    K = torch.tensor([[[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1]]], device=weights.device)
    viewmat = torch.eye(4, device=weights.device)[None]
    torch.cuda.synchronize() if weights.is_cuda else None
    start = time.perf_counter()
    image, alpha, info = rasterize(
        leaves["means"], leaves["quats"], leaves["log_scales"].exp(), leaves["opacity_logits"].sigmoid(),
        leaves["colors"], viewmat, K, size, size, near_plane=0.2, far_plane=2.4, absgrad=True, backend=backend,
    )  # fmt: skip
    info["means2d"].retain_grad()
    (torch.cat([image, alpha], -1)[0] * weights).sum().backward()
    torch.cuda.synchronize() if weights.is_cuda else None
    milliseconds = 1000 * (time.perf_counter() - start)
    out = {"image": image.detach(), "alpha": alpha.detach(), "means2d_grad": info["means2d"].grad,
           "means2d_absgrad": info["means2d"].absgrad}  # fmt: skip
    out.update({f"{name}_grad": leaf.grad for name, leaf in leaves.items()})
    return out, milliseconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--gaussians", type=int, default=4000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    reference = "gsplat-cuda" if args.device.startswith("cuda") else "torch"
    record = {"device": args.device, "gaussians": args.gaussians, "reference_backend": reference, "cases": []}
    if reference == "gsplat-cuda":
        start = time.perf_counter()
        from gsplat.cuda._backend import _C  # JIT build (or load) of gsplat's CUDA extension

        record["gsplat_build_or_load_s"] = round(time.perf_counter() - start, 1)
        record["gsplat_extension"] = getattr(_C, "__file__", None)
        record["gpu"] = torch.cuda.get_device_name(0)
    for channels, size in CASES:
        params = gaussians(args.gaussians, channels, args.device)
        weights = torch.rand(size, size, channels + 1, generator=torch.Generator().manual_seed(1)).to(args.device)
        theirs, their_ms = render(params, size, reference, weights)
        ours, our_ms = render(params, size, "torch", weights)
        diffs = {
            name: {"max_abs_diff": float((ours[name] - theirs[name]).abs().max()),
                   "max_abs": float(theirs[name].abs().max())}
            for name in theirs
        }  # fmt: skip
        record["cases"].append(
            {"channels": channels, "size": size, "ms": {reference: round(their_ms, 2), "torch": round(our_ms, 2)},
             "diffs": diffs}
        )  # fmt: skip
        worst = max(d["max_abs_diff"] / max(d["max_abs"], 1e-12) for d in diffs.values())
        print(f"C={channels:2d} {size}x{size}: worst relative difference {worst:.2e}, "
              f"{reference} {their_ms:.1f} ms, torch {our_ms:.1f} ms", flush=True)  # fmt: skip
        args.out.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
