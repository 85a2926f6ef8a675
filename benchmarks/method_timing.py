"""Seconds per step and milliseconds per view of each NeRF method, latent and RGB, on the device at hand.

    .venv/bin/python benchmarks/method_timing.py --device cuda --scene resources/scenes/hats/hats_000 \\
        --latents results/latents/ostris/hats/hats_000.safetensors --autoencoder results/autoencoders/ostris \\
        --latent-steps 400 --align-steps 200 --rgb-steps 600 --out method_timing.csv

Each method is fitted with igae.nerf.fit.fit (the workflow's harness, stock model sizes unless --model says
otherwise), latent (latent + alignment steps) then RGB (--rgb-steps at --rgb-rays rays per step), one after the
other in this process, and the numbers are read from the timing.json each fit writes (igae.timing):

- s_per_step: train_seconds / iterations (synchronised iteration wall times; set-up, evaluation and I/O excluded);
  a latent run's fit_s_per_step and align_s_per_step are its two stages. The first steps carry the warm-up (kernel
  compilation, autotuning): give enough steps for it to be amortised.
- render_ms_per_view, decode_ms_per_view: median per eval view (a latent view is an image once decoded).
- peak_mem_mb: CUDA max allocated during the fit; on the CPU the process' max RSS so far (it only grows, so later
  rows inherit earlier peaks; --isolate runs each fit in its own process to get each one's own).
- train_speedup = RGB s_per_step / latent s_per_step; render_speedup = RGB render / (latent render + decode), as in
  igae.report.tables.timing_table but per step, so the two spaces may run different step counts.
- rgb_rays: rays per RGB step (a splatting step renders one whole image instead: empty); gaussians: a splatting
  fit's Gaussians at its end (its step time grows with them; the count at the start and after each refinement is in
  the run's metrics.json).

``--config config/all_methods_cpu.yaml`` times each method as that workflow config fits it: its ``benchmark.model``
sizes (under ``--model``) and each method's ``rgb_rays_per_batch`` (``benchmark.schedule`` with the method's
``schedule_overrides``); the step counts stay this script's.

Methods the device cannot run (GPU-only ones in igae.nerf.registry, on a CPU) are skipped with the reason; a fit
that fails is reported and the others still run (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from igae.nerf.registry import METHODS  # plain data: --help stays fast

DEFAULT_METHODS = tuple(METHODS)
COLUMNS = [
    "method", "space", "device", "steps", "s_per_step", "fit_s_per_step", "align_s_per_step", "render_ms_per_view",
    "decode_ms_per_view", "peak_mem_mb", "train_speedup", "render_speedup", "rgb_rays", "gaussians", "note",
]  # fmt: skip


@dataclass
class Bench:
    """What to fit, where, for how long."""

    scene: Path
    """A scene folder (transforms.json + images/), e.g. resources/scenes/hats/hats_000."""
    latents: Path
    """The scene's latents file (igae encode / rule encode_latents) made with ``autoencoder``."""
    autoencoder: Path
    """The autoencoder folder of the latent runs."""
    device: str = "auto"
    """cpu, cuda (or cuda:N), or auto: cuda when a GPU is visible."""
    methods: tuple[str, ...] = DEFAULT_METHODS
    """Methods to time, in this order."""
    latent_steps: int = 200
    """Stage 1 of a latent fit (the method's own loss on latents)."""
    align_steps: int = 100
    """Stage 2 of a latent fit (RGB alignment, decoder fine-tuned)."""
    rgb_steps: int = 300
    """Steps of the RGB fit."""
    rgb_rays: int = 4096
    """Rays per RGB step (the workflow's rgb_rays_per_batch)."""
    method_rgb_rays: dict[str, int] = field(default_factory=dict)
    """{method: rays per RGB step}, instead of ``rgb_rays`` for the methods named (a workflow config's)."""
    model: dict[str, dict] = field(default_factory=dict)
    """{method: model config overrides}; stock nerfstudio sizes for methods not named."""
    seed: int = 1234
    """Fitting seed."""
    isolate: bool = False
    """Each fit in its own process (peak memory per fit on the CPU too; each pays nerfstudio's import, ~15 s)."""


def _fit_timing(space: str, method: str, bench: Bench, device: str, out_dir: Path) -> dict:
    """Fit one run and return its timing.json, with ``gaussians`` (a splatting fit's count at its end) and
    ``rgb_rays`` (rays per RGB step of a ray-based method) added (this is what a child process runs with --isolate)."""
    from igae.nerf.fit import fit
    from igae.nerf.method_configs import TwoStageSchedule, method_settings

    rays = bench.method_rgb_rays.get(method, bench.rgb_rays)
    schedule = TwoStageSchedule(
        bench.latent_steps, bench.align_steps, rgb_steps=bench.rgb_steps, rgb_rays_per_batch=rays
    )
    latent = space == "latent"
    fit(
        space,
        method,
        bench.scene,
        out_dir,
        schedule,
        autoencoder=bench.autoencoder if latent else None,
        latents=bench.latents if latent else None,
        model_overrides=bench.model.get(method, {}),
        seed=bench.seed,
        device=device,
        labels={"dataset": bench.scene.parent.name, "scene": bench.scene.name},
        curve=False,  # no convergence probes: nothing but the fit itself
        log=lambda message: print(f"  [{space} {method}] {message}", flush=True),
    )
    timing = json.loads((out_dir / "timing.json").read_text())
    counts = json.loads((out_dir / "metrics.json").read_text()).get("gaussian_counts")
    timing["gaussians"] = counts[-1]["count"] if counts else None
    whole_images = method_settings(space, method, 1.0).renders_cameras  # a step renders one image, not rays
    timing["rgb_rays"] = rays if space == "rgb" and not whole_images else None
    return timing


def _row(method: str, space: str, timing: dict, stage_steps: dict[str, int]) -> dict:
    """One table row from a timing.json; ``stage_steps``: {stage: its steps} of a latent run (not in timing.json)."""
    iterations = timing["iterations"]
    row = {
        "method": method,
        "space": space,
        "device": timing.get("device", ""),
        "steps": iterations,
        "s_per_step": timing["train_seconds"] / iterations if iterations else math.nan,
        "render_ms_per_view": timing["render_ms_per_view"],
        "decode_ms_per_view": timing.get("decode_ms_per_view") or 0.0,
        "peak_mem_mb": timing.get("peak_memory_mb"),
        "rgb_rays": timing.get("rgb_rays"),
        "gaussians": timing.get("gaussians"),
    }
    for stage, steps in stage_steps.items():
        if steps and stage in timing.get("stage_seconds", {}):
            row[f"{stage}_s_per_step"] = timing["stage_seconds"][stage] / steps
    return row


def run(bench: Bench, work_dir: Path) -> pd.DataFrame:
    """Fit every method latent and RGB on ``bench.device``; one row per (method, space), speed-ups on latent rows."""
    from igae.runtime import resolve_device
    from igae.timing import device_label

    device = resolve_device(bench.device)
    label = device_label(device)
    rows = []
    for method in bench.methods:
        gpu_only = METHODS[method].gpu_only
        if gpu_only and not device.startswith("cuda"):
            print(f"skipping {method}: {gpu_only}", flush=True)
            rows.append({"method": method, "device": label, "note": f"skipped: {gpu_only}"})
            continue
        for space in ("latent", "rgb"):
            out_dir = work_dir / f"{space}_{method}"
            print(f"{space} {method} on {device} ...", flush=True)
            try:
                if bench.isolate:
                    with multiprocessing.get_context("spawn").Pool(1) as pool:
                        timing = pool.apply(_fit_timing, (space, method, bench, device, out_dir))
                else:
                    timing = _fit_timing(space, method, bench, device, out_dir)
            except Exception as error:  # one method failing (e.g. an extension that does not build) is a row
                traceback.print_exc()
                rows.append({"method": method, "space": space, "device": label, "note": f"failed: {error}"[:200]})
                continue
            stage_steps = {"fit": bench.latent_steps, "align": bench.align_steps} if space == "latent" else {}
            rows.append(_row(method, space, timing, stage_steps))
    table = (
        pd.DataFrame(rows)
        .reindex(columns=COLUMNS)
        .astype({"steps": "Int64", "rgb_rays": "Int64", "gaussians": "Int64"})
    )
    for _, group in table.groupby("method", sort=False):
        latent, rgb = group[group.space == "latent"], group[group.space == "rgb"]
        if latent.empty or rgb.empty:
            continue
        latent, rgb = latent.iloc[0], rgb.iloc[0]
        table.loc[latent.name, "train_speedup"] = rgb.s_per_step / latent.s_per_step
        table.loc[latent.name, "render_speedup"] = rgb.render_ms_per_view / (
            latent.render_ms_per_view + latent.decode_ms_per_view
        )
    return table


def markdown(table: pd.DataFrame) -> str:
    """The table as Markdown: times to 3 significant digits, speed-ups with an ×, empty cells as —."""

    def cell(column: str, value) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value == "":
            return "—"
        if column.endswith("speedup"):
            return f"{value:.2f}×"
        if isinstance(value, float):
            return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
        return str(value)

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(cell(c, v) for c, v in zip(COLUMNS, row, strict=True)) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scene", required=True, type=Path, help="a scene folder (transforms.json + images/)")
    parser.add_argument("--latents", required=True, type=Path, help="the scene's latents file (igae encode)")
    parser.add_argument("--autoencoder", required=True, type=Path, help="the AE folder the latents were made with")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(DEFAULT_METHODS))
    parser.add_argument("--latent-steps", type=int, default=Bench.latent_steps)
    parser.add_argument("--align-steps", type=int, default=Bench.align_steps)
    parser.add_argument("--rgb-steps", type=int, default=Bench.rgb_steps)
    parser.add_argument("--rgb-rays", type=int, default=Bench.rgb_rays, help="rays per RGB step")
    parser.add_argument("--model", default="{}", help='JSON {method: overrides}, e.g. {"tensorf": {"num_samples": 8}}')
    parser.add_argument("--config", type=Path, help="a workflow config: its model sizes and per-method RGB rays")
    parser.add_argument("--seed", type=int, default=Bench.seed)
    parser.add_argument("--isolate", action="store_true", help="each fit in its own process (own CPU peak memory)")
    parser.add_argument("--work", type=Path, help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=Path("method_timing.csv"), help="CSV to write")
    args = parser.parse_args(argv)
    model, method_rgb_rays = {}, {}
    if args.config:
        import yaml

        from igae.config import method_schedule

        config = yaml.safe_load(args.config.read_text())
        model = config["benchmark"].get("model", {})
        method_rgb_rays = {
            method: rays
            for method in args.methods
            if (rays := method_schedule(config, method).get("rgb_rays_per_batch")) is not None
        }
    for method, overrides in json.loads(args.model).items():
        model[method] = {**model.get(method, {}), **overrides}
    bench = Bench(
        scene=args.scene,
        latents=args.latents,
        autoencoder=args.autoencoder,
        device=args.device,
        methods=tuple(args.methods),
        latent_steps=args.latent_steps,
        align_steps=args.align_steps,
        rgb_steps=args.rgb_steps,
        rgb_rays=args.rgb_rays,
        method_rgb_rays=method_rgb_rays,
        model=model,
        seed=args.seed,
        isolate=args.isolate,
    )
    with tempfile.TemporaryDirectory(prefix="method_timing_") as tmp:
        work_dir = args.work or Path(tmp)
        work_dir.mkdir(parents=True, exist_ok=True)
        table = run(bench, work_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(markdown(table))
    print(f"\nwritten: {args.out}")
    return 1 if table["note"].fillna("").str.startswith("failed").any() else 0


if __name__ == "__main__":
    sys.exit(main())
