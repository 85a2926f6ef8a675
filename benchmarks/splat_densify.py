"""Densification of splatfacto at latent (or RGB) resolution: Gaussian count and eval PSNR along fits, per variant.

    .venv/bin/python benchmarks/splat_densify.py --scene resources/scenes/heldout/photo_000 \\
        --latents results/latents/igae/heldout/photo_000.safetensors --autoencoder results/autoencoders/igae \\
        --base '{"warmup_length": 50, "refine_every": 25}' \\
        --variants '{"stock": {}, "no_screen_rules": {"stop_screen_size_at": 0}}' --out densify.json

Each variant is one fit through igae.nerf.fit.fit (the workflow's harness) with ``--base`` and then the variant's
fields as ``benchmark.model.splatfacto`` overrides, and the schedule of ``--schedule``. The JSON has, per variant:
the eval PSNR (decoded, for latent fits) every ``--every`` steps, the Gaussian count after each refinement, the final
metrics, train seconds per stage, and the error if the fit stopped (e.g. a Gaussian count of 0).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import traceback
from pathlib import Path

import torch

from igae.files import atomic_write_json
from igae.nerf.fit import fit
from igae.nerf.method_configs import TwoStageSchedule


def run_variant(args: argparse.Namespace, name: str, overrides: dict) -> dict:
    schedule = TwoStageSchedule(**{"check_every": args.every, "rgb_check_every": args.every,
                                   **json.loads(args.schedule)})  # fmt: skip
    latent = args.space == "latent"
    record = {"variant": name, "overrides": overrides}
    with tempfile.TemporaryDirectory() as work:
        try:
            result = fit(
                args.space,
                "splatfacto",
                scene=args.scene,
                out_dir=Path(work) / name,
                schedule=schedule,
                autoencoder=args.autoencoder if latent else None,
                latents=args.latents if latent else None,
                model_overrides=overrides,
                labels={
                    "dataset": "sweep",
                    "scene": args.scene.name,
                    "autoencoder": args.autoencoder.name if latent else None,
                },
                log=lambda line: print(f"[{name}] {line}", flush=True) if "curve" in line else None,
            )
        except Exception as error:  # a collapsed or runaway fit is a result of the sweep
            record["error"] = "".join(traceback.format_exception_only(error)).strip()
            return record
        timing = json.loads((Path(work) / name / "timing.json").read_text())
    record.update(
        curve=[{"step": p["step"], "psnr": round(p["psnr"], 3), "stage": p["stage"]} for p in result["curve"]],
        gaussian_counts=result["gaussian_counts"],
        psnr=result["mean"]["psnr"],
        latent_psnr=result.get("latent_mean", {}).get("psnr"),
        stage_seconds=timing["stage_seconds"],
        render_ms_per_view=timing["render_ms_per_view"],
    )
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", choices=["latent", "rgb"], default="latent")
    parser.add_argument("--scene", type=Path, required=True)
    parser.add_argument("--latents", type=Path)
    parser.add_argument("--autoencoder", type=Path)
    parser.add_argument("--schedule", default='{"latent_steps": 300, "align_steps": 120, "lr_factor": 1.0}')
    parser.add_argument("--base", default="{}", help="model overrides of every variant (JSON)")
    parser.add_argument("--variants", required=True, help='{"name": {field: value}} (JSON)')
    parser.add_argument("--every", type=int, default=50, help="eval PSNR every this many steps (stage 1: at most 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the workflow's fits use 1)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # 2 threads on a loaded 2-core machine ran 20x slower than 1
    base = json.loads(args.base)
    records = []
    for name, overrides in json.loads(args.variants).items():
        records.append(run_variant(args, name, {**base, **overrides}))
        last = records[-1]
        print(name, last.get("error") or f"PSNR {last['psnr']:.2f} dB, counts {last['gaussian_counts']}", flush=True)
        atomic_write_json(args.out, {"space": args.space, "scene": str(args.scene), "runs": records})


if __name__ == "__main__":
    main()
