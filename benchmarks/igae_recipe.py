"""Train one IG-AE recipe through the ``train_igae`` rule's own function and print its training curves.

The recipe is a config entry of config.yaml (``--entry igae`` or ``control``) with ``--overrides`` merged into its
``training`` (nested ``loss`` / ``triplanes`` merged key by key). The curves (``recipe.curves`` of the card) are
measured on the IG-AE's own synthetic held-out views and the real test images: never on the benchmark's held-out
scenes, so choosing a recipe by them leaks nothing into the benchmark.

Usage (from the repository root, after ``snakemake resources/scenes/synthetic resources/real/skimage
results/autoencoders/standard``)::

    python benchmarks/igae_recipe.py --entry igae --overrides '{"warmup_epochs": 50}' --out /tmp/igae-probe
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

from igae.ae.kinds.igae import train_igae_job
from igae.ae.kinds.registry import autoencoder_entry

REPO = Path(__file__).resolve().parents[1]


def merged(training: dict, overrides: dict) -> dict:
    """``training`` with ``overrides``; the nested ``loss`` and ``triplanes`` dicts are merged key by key, and a
    phase's ``*_epochs`` replaces its ``*_steps`` (and the other way round)."""
    result = dict(training)
    for key, value in overrides.items():
        for a, b in (("_epochs", "_steps"), ("_steps", "_epochs")):
            if key.endswith(a):
                result.pop(key.removesuffix(a) + b, None)
        result[key] = {**result.get(key, {}), **value} if isinstance(value, dict) else value
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entry", default="igae", help="autoencoders.<entry> of --config")
    parser.add_argument("--config", default=str(REPO / "config.yaml"))
    parser.add_argument("--overrides", default="{}", help="JSON: keys of the entry's training to change")
    parser.add_argument("--base", default="results/autoencoders/standard")
    parser.add_argument("--scenes", default="resources/scenes/synthetic")
    parser.add_argument("--real", default="resources/real/skimage")
    parser.add_argument("--out", required=True, help="the autoencoder folder to write")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = yaml.safe_load(Path(args.config).read_text())["autoencoders"][args.entry]
    config = yaml.safe_load(Path(args.config).read_text())
    training = merged(spec.get("training", {}), json.loads(args.overrides))
    entry = autoencoder_entry({**spec, "name": args.entry, "image_size": config["image_size"], "training": training})
    started = time.perf_counter()
    card = train_igae_job(
        entry, args.base, args.scenes, args.real, args.out, device=args.device, log=print, use_shipped=False
    )
    curves = card.recipe["curves"]
    print(f"{args.entry}: {time.perf_counter() - started:.0f} s; curves (PSNR, dB):")
    keys = [key for key in curves[0] if key.endswith(("_train", "_heldout", "_real"))] if curves else []
    print("phase   step " + " ".join(f"{key:>22}" for key in keys))
    for point in curves:
        print(f"{point['phase']:<7} {point['step']:>4} " + " ".join(f"{point[key]:>22.2f}" for key in keys))
    return card.recipe


if __name__ == "__main__":
    main()
