"""Where a NeRF fit stops gaining: the eval PSNR along one long fit, to choose a method's schedule from.

    .venv/bin/python benchmarks/convergence_sweep.py --scene resources/scenes/heldout/photo_001 \\
        --latents results/latents/igae/heldout/photo_001.safetensors --autoencoder results/autoencoders/igae \\
        --method tensorf --latent-steps 600 --align-steps 300 --rgb-steps 1500 --points 8 --out sweep_tensorf.csv

Each space is fitted once with igae.nerf_fit.fit (the workflow's harness and the run's own probe, ConvergenceProbe),
the schedule and model sizes of ``--config`` (the method's overrides included) except the step counts given here,
and the probe measured at ``--points`` evenly spaced steps of each stage. The CSV has one row per point: space,
stage, step, train seconds, eval PSNR, and the gain over the previous point of the same stage. A fit is `converged` in
the workflow when the least-squares trend of its curve over the second half of its last stage changes by < 0.3 dB
(igae.convergence): read the stage's second half here. With ``scale_lr_schedulers`` the lr schedules stretch over the
fit's steps, so a point of a long fit approximates, not equals, the end of a shorter one: check the choice in the run
itself.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
import torch
import yaml

from igae.latent_nerf.method_configs import TwoStageSchedule
from igae.nerf_fit import fit
from igae.runtime import resolve_device


def stage_points(start: int, steps: int, points: int) -> list[int]:
    """``points`` iteration counts evenly spaced over the stage (start, start + steps], the last at its end."""
    return sorted({start + max(1, round(steps * k / points)) for k in range(1, points + 1)})


def sweep(args: argparse.Namespace) -> pd.DataFrame:
    config = yaml.safe_load(args.config.read_text())["benchmark"]
    schedule = {**config["schedule"], **config.get("schedule_overrides", {}).get(args.method, {})}
    model = config.get("model", {}).get(args.method, {})
    device = resolve_device(args.device)
    rows = []
    for space in args.spaces:
        if space == "latent":
            steps = {"latent_steps": args.latent_steps, "align_steps": args.align_steps}
            curve_at = stage_points(0, args.latent_steps, args.points)
            curve_at += stage_points(args.latent_steps, args.align_steps, args.points)
        else:
            steps = {"latent_steps": args.rgb_steps, "align_steps": 0}
            curve_at = stage_points(0, args.rgb_steps, args.points)
        with tempfile.TemporaryDirectory() as work:
            result = fit(
                space,
                args.method,
                scene=args.scene,
                out_dir=Path(work) / space,
                schedule=TwoStageSchedule(**{**schedule, **steps}),
                autoencoder=args.autoencoder if space == "latent" else None,
                latents=args.latents if space == "latent" else None,
                model_overrides=model,
                seed=args.seed,
                device=device,
                curve_at=curve_at,
            )
        previous: dict[str, float] = {}
        for point in result["curve"]:
            stage = point["stage"]
            gain = point["psnr"] - previous[stage] if stage in previous else float("nan")
            previous[stage] = point["psnr"]
            rows.append({"method": args.method, "space": space, **point, "gain_db": gain})
            print(
                f"{args.method} {space:6s} {stage:5s} step {point['step']:5d} {point['train_seconds']:7.1f} s "
                f"{point['psnr']:6.2f} dB ({gain:+.2f})",
                flush=True,
            )
        print(f"{args.method} {space}: final eval PSNR {result['mean']['psnr']:.2f} dB", flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", required=True, type=Path, help="a scene folder (transforms.json + images/)")
    parser.add_argument("--latents", type=Path, help="the scene's latents file (latent space)")
    parser.add_argument("--autoencoder", type=Path, help="the AE folder the latents were made with (latent space)")
    parser.add_argument("--method", default="tensorf")
    parser.add_argument("--spaces", nargs="+", choices=["latent", "rgb"], default=["latent", "rgb"])
    parser.add_argument("--config", type=Path, default=Path("config.yaml"), help="schedule and model sizes from here")
    parser.add_argument("--latent-steps", type=int, default=600)
    parser.add_argument("--align-steps", type=int, default=300)
    parser.add_argument("--rgb-steps", type=int, default=1500)
    parser.add_argument("--points", type=int, default=8, help="curve points per stage")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("convergence_sweep.csv"))
    args = parser.parse_args()
    if "latent" in args.spaces and not (args.latents and args.autoencoder):
        parser.error("the latent space needs --latents and --autoencoder")
    torch.set_num_threads(args.threads)
    sweep(args).to_csv(args.out, index=False)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
