"""Cost of candidate standard-AE architectures on this machine: parameters, training s/step, decode ms per view.

    .venv/bin/python benchmarks/ae_cost.py                      # the candidates below
    .venv/bin/python benchmarks/ae_cost.py assets/autoencoders/standard results/autoencoders/standard   # AE folders

Training step: batch 8 of 64-px crops, MSE + KL (+ the perceptual loss when --perceptual is given), as in
igae.ae.standard_training; decode: one (1, C, 16, 16) latent -> 128-px view, median of 10 after 2 warm-ups. Run it
alone.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from igae.ae.autoencoder import decode, load_with_card, small_autoencoder
from igae.metrics import build_perceptual_loss
from igae.timing import median_time_ms

CANDIDATES = {
    "16-32-64-64 x1": ((16, 32, 64, 64), 1),
    "32-64-128-128 x1": ((32, 64, 128, 128), 1),
    "32-64-128-128 x2": ((32, 64, 128, 128), 2),
    "32-64-128-256 x2": ((32, 64, 128, 256), 2),
    "64-128-128-256 x2": ((64, 128, 128, 256), 2),
}


def step_seconds(ae, perceptual, steps: int = 6) -> float:
    optimizer = torch.optim.Adam(ae.parameters(), lr=1e-4)
    batch = torch.rand(8, 3, 64, 64) * 2 - 1
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        posterior = ae.encode(batch).latent_dist
        reconstruction = ae.decode(posterior.sample()).sample
        loss = F.mse_loss(reconstruction, batch) + 1e-6 * posterior.kl().mean()
        if perceptual is not None:
            loss = loss + 0.1 * perceptual(reconstruction.clamp(-1, 1), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[len(times[1:]) // 2]


def decode_ms(ae) -> float:
    latent = torch.randn(1, ae.config.latent_channels, 16, 16)
    with torch.no_grad():
        return median_time_ms(lambda: decode(ae, latent), warmup=2, repeats=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="*", help="AE folders to time (default: the candidate architectures)")
    parser.add_argument("--perceptual", default="none", help="perceptual loss of the training step (e.g. auto)")
    args = parser.parse_args()
    perceptual = build_perceptual_loss(args.perceptual, "cpu")
    if args.folders:
        models = {folder: load_with_card(folder, "cpu")[0] for folder in args.folders}
    else:
        models = {name: small_autoencoder(16, blocks, layers_per_block=n) for name, (blocks, n) in CANDIDATES.items()}
    print(f"torch threads {torch.get_num_threads()}, perceptual {perceptual.label if perceptual else 'none'}")
    print("| autoencoder | parameters | train s/step (8 x 64 px) | decode ms per 128-px view |")
    print("|---|---|---|---|")
    for name, ae in models.items():
        params = sum(p.numel() for p in ae.parameters()) / 1e6
        ae.train()
        seconds = step_seconds(ae, perceptual)
        ae.eval()
        print(f"| {name} | {params:.2f} M | {seconds:.3f} | {decode_ms(ae):.1f} |", flush=True)


if __name__ == "__main__":
    main()
