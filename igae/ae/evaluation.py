"""Reconstruction quality of an autoencoder, whatever its kind: D(E(x)) against x on the benchmark scenes' views and
the real test images, under the metric protocol of :mod:`igae.metrics` (rule ``evaluate_autoencoder``)."""

from __future__ import annotations

import numpy as np
import torch

from igae.ae.autoencoder import load_with_card, reconstruct, to_unit_hwc
from igae.files import atomic_write_json
from igae.metrics import DEFAULT_PROTOCOL, lpips_status, per_image_metrics, summarize
from igae.provenance import provenance
from igae.scenes.dataset_io import load_scene, scene_folders
from igae.scenes.real_images import load_real_images


@torch.no_grad()
def _reconstruction_rows(ae, images: torch.Tensor, device, batch: int = 16) -> list[dict]:
    """Per-image metrics of D(E(x)) vs x; images (N, 3, H, W) in [-1, 1]."""
    rows = []
    for start in range(0, len(images), batch):
        x = images[start : start + batch].to(device)
        rows += per_image_metrics(to_unit_hwc(reconstruct(ae, x)), to_unit_hwc(x))
    return rows


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
