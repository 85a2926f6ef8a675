"""Train one variant of the standard-AE recipe on a GPU, then score it (a point of a recipe sweep).

Several of these run at once on one GPU (each step of a 5 M-parameter AE is bound by kernel launches, not by the
GPU's arithmetic). Each one:

1. times ``--probe-steps`` steps of its recipe (under the same contention as the sweep), then sets ``steps`` so the
   training fits ``--budget-s`` seconds (a multiple of ``--step-multiple``; the count is part of the recipe in the
   card, so the result is reproducible from the card alone, on any device);
2. trains through :func:`igae.ae.kinds.registry.build_autoencoder`, the function the ``prepare_autoencoder``
   rule calls (Snakemake is not installed on the GPU machine);
3. scores reconstruction with :func:`igae.ae.evaluation.evaluate_autoencoder` on the real test photos and on the
   views of ``--select-scenes`` (the IG-AE's training scenes: never the benchmark's held-out scenes, so choosing a
   recipe by them leaks nothing into the benchmark).

Usage (from the repository root)::

    python benchmarks/ae_sweep.py --name jitter --overrides '{"color_jitter": 0.3}' --real REAL_DIR \\
        --select-scenes SCENES_DIR --out OUT_DIR --budget-s 200 --device cuda
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import yaml

from igae.ae.evaluation import evaluate_autoencoder
from igae.ae.kinds.registry import build_autoencoder
from igae.ae.standard_training import train_standard_autoencoder
from igae.ae.training_configs import AETrainingConfig
from igae.scenes.real_images import load_real_images

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="variant name (folder under --out)")
    parser.add_argument("--overrides", default="{}", help="JSON: keys of autoencoders.standard.training to change")
    parser.add_argument("--real", required=True, help="real image set (train/, test/)")
    parser.add_argument("--select-scenes", required=True, help="scene dataset scored for the choice of recipe")
    parser.add_argument("--out", required=True)
    parser.add_argument("--budget-s", type=float, required=True, help="seconds of training to fill")
    parser.add_argument("--probe-steps", type=int, default=30)
    parser.add_argument("--step-multiple", type=int, default=500, help="steps are a multiple of this, at least one")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)

    out = Path(args.out) / args.name
    out.mkdir(parents=True, exist_ok=True)
    log_file = (out / "train.log").open("a")

    def log(message: str) -> None:
        print(f"[{args.name}] {message}", file=log_file, flush=True)

    spec = {**yaml.safe_load((REPO / "config.yaml").read_text())["autoencoders"]["standard"], "name": "standard"}
    spec["training"] = {**spec["training"], **json.loads(args.overrides)}
    images = load_real_images(args.real, "train")

    probe = AETrainingConfig(**{**spec["training"], "steps": args.probe_steps, "warmup_steps": 0})
    _, card = train_standard_autoencoder(images, probe, "probe", args.device, log=lambda _: None, kind="trained")
    seconds_per_step = card.recipe["seconds"] / args.probe_steps
    multiple = args.step_multiple
    steps = max(multiple, multiple * math.floor(args.budget_s / seconds_per_step / multiple))
    spec["training"]["steps"] = steps
    log(f"probe: {seconds_per_step * 1000:.1f} ms/step -> {steps} steps; recipe {json.dumps(spec['training'])}")

    started = time.perf_counter()
    build_autoencoder(spec, {"real": args.real}, out / "autoencoder", device=args.device, log=log, use_shipped=False)
    wall = time.perf_counter() - started
    scores = evaluate_autoencoder(
        out / "autoencoder", [args.select_scenes], args.real, out / "reconstruction.json", device=args.device, log=log
    )
    psnr = {row["data"]: row["psnr"] for row in scores["rows"]}
    result = {
        "name": args.name,
        "overrides": json.loads(args.overrides),
        "ms_per_step_probe": seconds_per_step * 1000,
        "steps": steps,
        "wall_s": wall,
        "real_psnr": psnr["real"],
        "select_scenes_psnr": psnr["synthetic"],
        "score": min(psnr.values()),
    }
    (out / "result.json").write_text(json.dumps(result, indent=2))
    log(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
