"""Projected wall time of a configuration on one GPU, the Snakemake way: jobs sharing the GPU, each after its process
start, in the DAG's order. A small event simulation from per-step times measured on an H200.

    .venv/bin/python benchmarks/gpu_plan.py --config config/gpu.yaml
    .venv/bin/python benchmarks/gpu_plan.py --config config/gpu_smoke.yaml --scenario one-at-a-time

benchmarks/gpu_hours.py sums train iterations one fit at a time; this adds what an hour-long run on one GPU is made
of: every fitting seed and per-method schedule (``schedule_overrides``), the IG-AE and control trainings at their
step counts, each job's process start, its evaluation renders, the GPU shared by several jobs, and the DAG's order
(the IG-AE's fits wait for its training).

Measured (``--measured``, benchmarks/measured/h200_2026-11-27/, benchmarks/gpu_check.sh):
- per-step times of every method, latent stage 1 / alignment / RGB at 4096 rays, and render + decode ms per view
  (``method_timing_{a,b}.csv``; upper bounds: the 200 + 50 steps include the first steps' warm-up);
- the steps per second that 1, 4 and 8 latent TensoRF fits started at once gave together (``concurrent_*.json``):
  the throughput curve T(m) of m jobs on the GPU, T(1) = 1;
- an IG-AE joint step at batch 12 + 3, Tri-Planes 64^2 x 32, 48 + 48 samples (``igae_step_fp32.json``);
- nerfacc's CUDA extension build, once (``nerfacc_build.log``: 84 s).
Assumed (``not measured`` in the output):
- ``--start-s``: a job's process start, 15 s (../shared/gpu/README.md: "~15 s importing nerfstudio");
- scenario ``shared`` (default): every GPU job (RGB fits, IG-AE trainings) shares the GPU as latent fits were
  measured to, and T(m) stays at T(8) beyond 8 jobs; ``one-at-a-time``: T(m) = 1, the GPU's work done serially, as
  gpu_hours.py counts RGB fits;
- an IG-AE warm-up step costs a joint step (an upper bound: the warm-up trains no AE); the control's step as the
  IG-AE's;
- the CPU stages' times (``CPU_SECONDS``, ``REPORT_S``: scenes, real images, tables and figures), from this
  project's CPU runs.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from igae.ae.training_configs import epochs_to_steps
from igae.config import bench_scenes, benchmark_runs, load_config, method_schedule
from igae.scenes.dataset_io import eval_count
from igae.scenes.sources.registry import scene_source

MEASURED = Path(__file__).resolve().parent / "measured" / "h200_2026-11-27"
CPU_SECONDS = {
    # not measured on the GPU machine: this 2-core CPU's times (tests/data/gpu_rehearsal.yaml, the default run)
    "scene_per_scene": 0.6,  # procedural, 128 px, 24 views: 3 scenes in 5-8 s with the process start
    "real_images": 10.0,
}
REPORT_S = (45.0, 0.1)
"""Tables, claims, 4 figures, summary and page after the last fit: 45 s + 0.1 s per run folder read (assumed; the
tiny rehearsal's report chain took ~100 s on this loaded 2-core CPU, its figures in parallel)."""
EVAL_CURVE_VIEWS = 2 * 8  # convergence probe: 8 points on 2 eval views (igae.nerf.convergence, igae.nerf.fit)


@dataclass
class Job:
    priority: int  # Snakemake's: higher first
    order: int  # then the DAG's order
    name: str
    share: int  # of 100; 0: CPU only
    cpu_s: float  # before the GPU part: process start, CPU work
    gpu_s: float  # GPU work alone on the GPU
    needs: set = field(default_factory=set)
    stage: str = ""


def throughput_curve(measured: Path):
    """T(m): steps per second of m jobs at once over one job's, from the concurrent runs (linear in between)."""
    points = {1: 1.0}
    base = None
    for path in sorted(measured.glob("concurrent_*.json")):
        run = json.loads(path.read_text())
        per_fit = sum(t["train_seconds"] for t in run["timing"]) / len(run["timing"])
        if run["n"] == 1:
            base = per_fit
        points[run["n"]] = per_fit
    if base is None:
        raise SystemExit(f"gpu_plan: no concurrent_1.json in {measured}")
    curve = {n: (n * base / seconds if n > 1 else 1.0) for n, seconds in points.items()}
    ns = sorted(curve)

    def gain(m: int) -> float:
        if m <= 1:
            return float(max(m, 0))
        for lo, hi in zip(ns, ns[1:], strict=False):
            if lo <= m <= hi:
                return curve[lo] + (curve[hi] - curve[lo]) * (m - lo) / (hi - lo)
        return curve[ns[-1]]  # not measured beyond: flat

    return gain, curve


def build_jobs(config: dict, timing: pd.DataFrame, igae_step_s: float, args) -> list[Job]:
    bench = config["benchmark"]
    seeds = bench["seeds"]
    scenes = bench_scenes(config)  # (dataset, scene) in the config's order, as the workflow's
    eval_views = {d: eval_count(spec["views"], spec["eval_fraction"]) for d, spec in config["scenes"].items()}
    jobs, order = [], iter(range(10**9))
    start = args.start_s
    for dataset, spec in config["scenes"].items():
        n = len(scene_source(spec["source"]).scene_names(spec))
        jobs.append(Job(10, next(order), f"scene_dataset/{dataset}", 0, 5 + n * CPU_SECONDS["scene_per_scene"], 0,
                        stage="scenes"))  # fmt: skip
    jobs.append(Job(10, next(order), "real_images", 0, CPU_SECONDS["real_images"], 0, stage="scenes"))
    autoencoders = config["autoencoders"]
    used = list(dict.fromkeys(ae for ae, _ in benchmark_runs(config)))  # in order: a deterministic plan
    for name, spec in autoencoders.items():
        needs = {"real_images"}
        if spec["kind"] == "igae":
            synthetic = config["scenes"][spec["scenes"]]
            scene_views = synthetic["views"] - eval_views[spec["scenes"]]
            train_views = len(scene_source(synthetic["source"]).scene_names(synthetic)) * scene_views
            steps = epochs_to_steps(spec["training"], train_views)  # the IG-AE job's step counts
            warm, joint = steps.get("warmup_steps", 0), steps.get("joint_steps", 0)
            needs |= {f"ae/{spec['base']}", f"scene_dataset/{spec['scenes']}"}
            jobs.append(Job(10, next(order), f"ae/{name}", args.igae_share, start + 10, (warm + joint) * igae_step_s,
                            needs, stage="train_igae"))  # fmt: skip
        else:  # a shipped checkpoint copied (a trained standard AE would be its own GPU job: not planned here)
            jobs.append(Job(10, next(order), f"ae/{name}", 0, start, 0, needs, stage="prepare_autoencoder"))
    for ae in used:
        for dataset, i in scenes:  # i: the scene's name
            jobs.append(Job(0, next(order), f"encode/{ae}/{dataset}/{i}", 10, start, 1.0,
                            {f"ae/{ae}", f"scene_dataset/{dataset}"}, stage="encode_latents"))  # fmt: skip
        jobs.append(Job(0, next(order), f"evaluate/{ae}", 25, start, 5.0, {f"ae/{ae}"}, stage="evaluate"))
    missing = []
    for ae, method in benchmark_runs(config):
        schedule = method_schedule(config, method)
        if (method, "latent") not in timing.index:
            missing.append(f"{method} latent")
            continue
        row = timing.loc[(method, "latent")]
        for dataset, i in scenes:
            evals = (eval_views[dataset] + EVAL_CURVE_VIEWS) * (row.render_ms_per_view + row.decode_ms_per_view) / 1e3
            train = schedule["latent_steps"] * row.fit_s_per_step + schedule["align_steps"] * row.align_s_per_step
            needs = {f"encode/{ae}/{dataset}/{i}"}
            for seed in seeds:
                name = f"latent/{ae}/{method}/{dataset}/{i}/{seed}"
                jobs.append(
                    Job(0, next(order), name, args.latent_share, start, train + evals, needs, "fit_latent_nerf")
                )
    for method in bench["methods"]:
        schedule = method_schedule(config, method)
        if (method, "rgb") not in timing.index:
            missing.append(f"{method} rgb")
            continue
        row = timing.loc[(method, "rgb")]
        # the RGB cap (an upper bound of an adaptive fit's steps, as align_steps is of a latent fit's stage 2)
        steps = schedule.get("rgb_steps") or schedule["latent_steps"] + schedule["align_steps"]
        per_step = row.s_per_step * (schedule.get("rgb_rays_per_batch", 4096) / 4096 if args.scale_rays else 1.0)
        for dataset, i in scenes:
            evals = (eval_views[dataset] + EVAL_CURVE_VIEWS / 16) * row.render_ms_per_view / 1e3
            needs = {f"scene_dataset/{dataset}"}
            for seed in seeds:
                name = f"rgb/{method}/{dataset}/{i}/{seed}"
                jobs.append(
                    Job(0, next(order), name, args.rgb_share, start, steps * per_step + evals, needs, "fit_rgb_nerf")
                )
    if missing:
        print(f"not measured, left out: {', '.join(missing)}")
    if "instant-ngp" in {m for _, m in benchmark_runs(config)} | set(bench["methods"]):
        nerfacc = 84.0  # nerfacc_build.log; the runner starts the build beside the first jobs
        jobs.append(Job(20, next(order), "nerfacc_build", 0, nerfacc, 0, stage="nerfacc_build"))
        for job in jobs:
            if "/instant-ngp/" in job.name or job.name.startswith("rgb/instant-ngp"):
                job.needs.add("nerfacc_build")
    return jobs


def simulate(jobs: list[Job], gain, cores: int, capacity: int = 100, dt: float = 0.5) -> dict:
    """Greedy scheduling (priority, then DAG order) under gpu_share <= capacity and cores; running GPU jobs progress
    at T(m)/m each. Returns the end time and each stage's first start and last end."""
    done, running, t = set(), [], 0.0
    waiting = sorted(jobs, key=lambda job: (-job.priority, job.order))
    stages: dict[str, list[float]] = {}
    gpu_busy = 0.0
    while waiting or running:
        used = sum(j.share for j, *_ in running)
        for job in list(waiting):
            if len(running) >= cores:
                break
            if job.needs <= done and used + job.share <= capacity:
                running.append([job, job.cpu_s, job.gpu_s])
                used += job.share
                waiting.remove(job)
                first_last = stages.setdefault(job.stage, [t, t])
                first_last[0] = min(first_last[0], t)
        on_gpu = [r for r in running if r[1] <= 0 and r[2] > 0]
        rate = gain(len(on_gpu)) / len(on_gpu) if on_gpu else 0.0
        gpu_busy += dt if on_gpu else 0.0
        for r in running:
            if r[1] > 0:
                r[1] -= dt
            elif r[2] > 0:
                r[2] -= dt * rate
        t += dt
        for r in [r for r in running if r[1] <= 0 and r[2] <= 0]:
            running.remove(r)
            done.add(r[0].name)
            stages[r[0].stage][1] = t
        if not running and waiting and not any(j.needs <= done for j in waiting):
            raise SystemExit(f"gpu_plan: stuck: {waiting[0].name} needs {waiting[0].needs - done}")
    return {"end_s": t, "stages": stages, "gpu_busy_s": gpu_busy}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--measured", type=Path, default=MEASURED)
    parser.add_argument("--scenario", choices=["shared", "one-at-a-time"], default="shared")
    parser.add_argument("--start-s", type=float, default=15.0, help="a job's process start (not measured)")
    parser.add_argument("--latent-share", type=int, default=8, help="gpu_run.sh's fit_latent_nerf gpu_share")
    parser.add_argument("--rgb-share", type=int, default=13, help="gpu_run.sh's fit_rgb_nerf gpu_share")
    parser.add_argument("--igae-share", type=int, default=35, help="gpu_run.sh's train_igae gpu_share")
    parser.add_argument("--cores", type=int, default=16)
    parser.add_argument("--scale-rays", action="store_true", help="scale RGB step times by rgb_rays_per_batch / 4096")
    args = parser.parse_args(argv)

    config = load_config(args.config)  # validated, with the schema's defaults, as the workflow reads it
    timing = pd.concat([pd.read_csv(p) for p in sorted(args.measured.glob("method_timing_*.csv"))])
    timing = timing.drop_duplicates(["method", "space"], keep="last").set_index(["method", "space"])
    igae_step_s = json.loads((args.measured / "igae_step_fp32.json").read_text())["s_per_step"]
    measured_gain, curve = throughput_curve(args.measured)
    gain = measured_gain if args.scenario == "shared" else (lambda m: 1.0 if m else 0.0)
    jobs = build_jobs(config, timing, igae_step_s, args)
    result = simulate(jobs, gain, args.cores)
    runs = sum(job.stage in ("fit_latent_nerf", "fit_rgb_nerf") for job in jobs)
    total = result["end_s"] + REPORT_S[0] + REPORT_S[1] * runs
    counts: dict[str, int] = {}
    gpu_alone: dict[str, float] = {}
    for job in jobs:
        counts[job.stage] = counts.get(job.stage, 0) + 1
        gpu_alone[job.stage] = gpu_alone.get(job.stage, 0.0) + job.gpu_s
    measured_curve = json.dumps({n: round(gain_n, 2) for n, gain_n in curve.items()})
    print(f"{args.config}: scenario {args.scenario}; T(m) measured {measured_curve}")
    print(f"{'stage':<20}{'jobs':>6}{'GPU s alone':>13}{'starts':>9}{'ends':>9}")
    for stage, (first, last) in sorted(result["stages"].items(), key=lambda item: item[1][0]):
        print(f"{stage:<20}{counts[stage]:>6}{gpu_alone[stage]:>13.0f}{first:>9.0f}{last:>9.0f}")
    print(f"{'report (CPU)':<20}{'':>6}{'':>13}{result['end_s']:>9.0f}{total:>9.0f}")
    print(f"projected wall: {total:.0f} s = {total / 60:.1f} min (GPU busy {result['gpu_busy_s'] / 60:.1f} min); "
          f"GPU work alone {sum(gpu_alone.values()) / 60:.1f} min")  # fmt: skip
    return {"wall_s": total, "stages": result["stages"], "jobs": counts}


if __name__ == "__main__":
    main()
