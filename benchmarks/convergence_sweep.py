"""Where NeRF fits stop gaining: the eval PSNR along fits run until converged (or to a cap), to choose schedules from.

    .venv/bin/python benchmarks/convergence_sweep.py --method tensorf --scenes photo_000 photo_002 \\
        --fits latent:igae latent:standard rgb --schedule '{"align_steps": 600, "rgb_steps": 3000}' \\
        --out sweep_tensorf.csv

Each fit runs through igae.nerf.fit.fit (the workflow's harness, its probe and its stopping rule) with the schedule and
model sizes of ``--config`` for the method (its overrides included), updated by ``--schedule`` (JSON of
TwoStageSchedule fields, e.g. larger caps, ``until_converged``, ``check_every``). Scenes are read from
``resources/scenes/<dataset>/<scene>``, latents from ``results/latents/<ae>/<dataset>/<scene>.safetensors`` and AEs
from ``results/autoencoders/<ae>`` (what the workflow writes; make them with ``snakemake <those files>``). The CSV has
one row per curve point (fit, stage, step, train seconds, eval PSNR, the tail's trend at that point) and the summary
printed at the end one line per fit: steps run, why it stopped, final PSNR, the scene's failure floor and status.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pandas as pd
import torch
import yaml

from igae.config import method_schedule
from igae.nerf.convergence import tail_change_db
from igae.nerf.fit import fit
from igae.nerf.method_configs import TwoStageSchedule
from igae.runtime import resolve_device


def sweep(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame]:
    config = yaml.safe_load(args.config.read_text())
    schedule = TwoStageSchedule(**{**method_schedule(config, args.method), **json.loads(args.schedule)})
    model = {**config["benchmark"].get("model", {}).get(args.method, {}), **json.loads(args.model)}
    device = resolve_device(args.device)
    points, fits = [], []
    for scene in args.scenes:
        scene_dir = Path("resources/scenes") / args.dataset / scene
        for spec in args.fits:
            space, _, ae = spec.partition(":")
            label = f"{space}:{ae}" if ae else space
            with tempfile.TemporaryDirectory() as work:
                keep = args.runs / args.method / label.replace(":", "_") / scene if args.runs else None
                result = fit(
                    space,
                    args.method,
                    scene=scene_dir,
                    out_dir=keep or Path(work) / "run",
                    schedule=schedule,
                    autoencoder=Path("results/autoencoders") / ae if ae else None,
                    latents=Path("results/latents") / ae / args.dataset / f"{scene}.safetensors" if ae else None,
                    model_overrides=model,
                    seed=args.seed,
                    device=device,
                    log=lambda line: None,
                )
            start = schedule.final_stage_start(space)
            for index, point in enumerate(result["curve"]):
                trend = tail_change_db(result["curve"][: index + 1], start) if point["step"] > start else None
                points.append({"method": args.method, "scene": scene, "fit": label, **point, "trend_db": trend})
            fits.append(
                {
                    "method": args.method,
                    "scene": scene,
                    "fit": label,
                    "steps": result["steps"],
                    "cap": result["step_cap"],
                    "stop_reason": result["stop_reason"],
                    "train_s": result["curve"][-1]["train_seconds"] if result["curve"] else float("nan"),
                    "psnr": result["mean"]["psnr"],
                    "trend_db": result["curve_delta_db"],
                    "floor_psnr": result["floor"]["floor_psnr"],
                    "status": result["status"],
                }
            )
            print(json.dumps(fits[-1]), flush=True)
    return pd.DataFrame(points), pd.DataFrame(fits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="tensorf")
    parser.add_argument("--dataset", default="heldout")
    parser.add_argument("--scenes", nargs="+", required=True)
    parser.add_argument("--fits", nargs="+", default=["latent:igae", "rgb"], help="rgb or latent:<ae>")
    parser.add_argument("--config", type=Path, default=Path("config.yaml"), help="schedule and model sizes from here")
    parser.add_argument("--schedule", default="{}", help="JSON of TwoStageSchedule fields over the config's")
    parser.add_argument("--model", default="{}", help="JSON of model config overrides over the config's")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("convergence_sweep.csv"))
    parser.add_argument("--runs", type=Path, help="keep each run folder under <runs>/<method>/<fit>/<scene>")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    points, fits = sweep(args)
    points.to_csv(args.out, index=False)
    fits.to_csv(args.out.with_suffix(".fits.csv"), index=False)
    print(fits.to_string(index=False))
    print(f"wrote {args.out} and {args.out.with_suffix('.fits.csv')}")


if __name__ == "__main__":
    main()
