"""What a linear f8 code of the same size reconstructs: PCA of 8x8 RGB patches, 16 components (16 latent channels).

    .venv/bin/python benchmarks/pca_bound.py resources/real/skimage

The components are fitted on the train crops (every 4th), then the test crops are projected and rebuilt; the mean
per-image PSNR is printed. A learnt AutoencoderKL of 16 channels at f8 holds at least this much information per
patch, so a gap below this number is optimisation and training time, not capacity.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def patches(images: np.ndarray, size: int = 8) -> np.ndarray:
    """(N, H, W, 3) -> (N * H/size * W/size, size * size * 3) non-overlapping patches."""
    n, h, w, c = images.shape
    grid = images.reshape(n, h // size, size, w // size, size, c).transpose(0, 1, 3, 2, 4, 5)
    return grid.reshape(-1, size * size * c)


def load(folder: Path) -> np.ndarray:
    files = sorted(folder.glob("*.png"))
    return np.stack([np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255 for f in files])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("real", type=Path, help="a real-image set (train/ and test/ folders of PNGs)")
    parser.add_argument("--components", type=int, default=16)
    args = parser.parse_args()
    train, test = load(args.real / "train")[::4], load(args.real / "test")
    train_patches = patches(train)
    mean = train_patches.mean(0)
    basis = np.linalg.svd(train_patches - mean, full_matrices=False)[2][: args.components]  # (k, 192)
    test_patches = patches(test)
    rebuilt = (test_patches - mean) @ basis.T @ basis + mean
    mse = ((rebuilt - test_patches) ** 2).reshape(len(test), -1).mean(1)  # (N,) per image
    print(f"PCA of 8x8 patches, {args.components} components: test PSNR {np.mean(-10 * np.log10(mse)):.2f} dB")


if __name__ == "__main__":
    main()
