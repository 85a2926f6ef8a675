"""GPU-hours of a configuration's NeRF fits and IG-AE trainings, from per-step times measured on one GPU.

    .venv/bin/python benchmarks/gpu_hours.py --config config/paper.yaml --timing method_timing.csv \\
        --igae-step 0.063 --latent-per-gpu 8 --latent-throughput 2.8

``--timing``: CSVs of ``benchmarks/method_timing.py`` (``fit_s_per_step`` and ``align_s_per_step`` of latent rows,
``s_per_step`` of RGB rows); a method missing from them is listed, not guessed. Counted: train iterations only
(no evaluation renders, no process start-up), the schedule's steps (a latent fit: latent_steps + align_steps; an RGB
fit: their sum), every scene of every benchmark dataset. ``--latent-throughput``: how many times the steps per second
of one latent fit ``--latent-per-gpu`` fits at once give (measured, benchmarks/gpu_check.sh). RGB fits are counted
one at a time. IG-AE: ``--igae-step`` seconds per joint step (benchmarks/igae_step.py) times the joint steps its
epochs mean (``--train-views`` synthetic views; the warm-up phase, which trains no AE, is left out).
"""

from __future__ import annotations

import argparse
import math
from collections import Counter

import pandas as pd
import yaml

from igae.config import benchmark_runs


def scene_count(spec: dict) -> int:
    """Scenes of one ``scenes`` entry: its ``count``, or its list of Objaverse uids."""
    return spec["count"] if "count" in spec else len(spec.get("objaverse_uids", []))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--timing", nargs="+", required=True, help="CSVs of benchmarks/method_timing.py")
    parser.add_argument("--igae-step", type=float, help="seconds per IG-AE joint step")
    parser.add_argument("--train-views", type=int, default=25_000, help="IG-AE synthetic train views (500 x 50)")
    parser.add_argument("--latent-per-gpu", type=int, default=1)
    parser.add_argument("--latent-throughput", type=float, default=1.0)
    args = parser.parse_args(argv)

    config = yaml.safe_load(open(args.config))
    bench, schedule = config["benchmark"], config["benchmark"]["schedule"]
    scenes = sum(scene_count(config["scenes"][name]) for name in bench["datasets"])
    timing = pd.concat([pd.read_csv(path) for path in args.timing]).drop_duplicates(["method", "space"], keep="last")
    timing = timing.set_index(["method", "space"])

    latent_fits = Counter(method for _, method in benchmark_runs(config))  # {method: AEs fitted with it}
    seconds = {"latent": 0.0, "rgb": 0.0, "igae": 0.0}
    missing = []
    for method, n_aes in latent_fits.items():
        if (method, "latent") in timing.index:
            row = timing.loc[(method, "latent")]
            per_fit = schedule["latent_steps"] * row.fit_s_per_step + schedule["align_steps"] * row.align_s_per_step
            seconds["latent"] += n_aes * scenes * per_fit
        else:
            missing.append(f"{method} latent ({n_aes * scenes} fits)")
    for method in bench["methods"]:
        if (method, "rgb") in timing.index:
            steps = schedule["latent_steps"] + schedule["align_steps"]
            seconds["rgb"] += scenes * steps * timing.loc[(method, "rgb")].s_per_step
        else:
            missing.append(f"{method} rgb ({scenes} fits)")
    igaes = [spec for spec in config["autoencoders"].values() if spec["kind"] == "igae"]
    if args.igae_step:
        for spec in igaes:
            training = spec["training"]
            steps = training.get("joint_steps") or math.ceil(
                training["joint_epochs"] * args.train_views / training.get("batch_views", 12)
            )
            seconds["igae"] += steps * args.igae_step
    hours = {key: value / 3600 for key, value in seconds.items()}
    shared = hours["latent"] / args.latent_throughput + hours["rgb"] + hours["igae"]
    result = {
        "scenes": scenes,
        "latent_fits": sum(latent_fits.values()) * scenes,
        "rgb_fits": len(bench["methods"]) * scenes,
        "igae_trainings": len(igaes),
        "hours_latent": round(hours["latent"], 1),
        "hours_rgb": round(hours["rgb"], 1),
        "hours_igae": round(hours["igae"], 1),
        "hours_one_at_a_time": round(sum(hours.values()), 1),
        f"hours_{args.latent_per_gpu}_latent_per_gpu": round(shared, 1),
        "not_measured": missing,
    }
    for key, value in result.items():
        print(f"{key}: {value}")
    return result


if __name__ == "__main__":
    main()
