"""benchmarks/gpu_run.sh, the runner for a GPU machine without network, rehearsed on the CPU with the local .venv
(tests/data/gpu_rehearsal.yaml: config/gpu.yaml's shape at the smallest size), and the two GPU configurations planned.

The rehearsal is one real Snakemake run in two calls: the first stops at its deadline after the first jobs, the second
resumes and completes it; each packs its archive, which is read back here."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import snakemake
import yaml
from conftest import job_counts
from snakemake.utils import validate

from igae.config import check_config

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
RUNNER = REPO / "benchmarks" / "gpu_run.sh"
REHEARSAL = REPO / "tests" / "data" / "gpu_rehearsal.yaml"
METHODS = {"tensorf", "nerfacto", "kplanes", "vanilla-nerf", "instant-ngp", "splatfacto"}


def planned_jobs(scenes: int, seeds: int) -> dict[str, int]:
    """The DAG of config/gpu.yaml's shape: 3 AEs (one copied, two trained), 6 methods latent with each and in RGB."""
    units = scenes * seeds
    return {
        "scene_dataset": 2, "real_images": 1, "prepare_autoencoder": 1, "train_igae": 2, "evaluate_autoencoder": 3,
        "encode_latents": 3 * scenes, "fit_latent_nerf": 3 * 6 * units, "fit_rgb_nerf": 6 * units, "tables": 1,
        "claims": 1, "figure_qualitative": 1, "figure_convergence": 1, "figure_ae_reconstruction": 1,
        "figure_igae_training": 1, "summary": 1, "results_page": 1, "all": 1,
    }  # fmt: skip


@pytest.mark.parametrize(
    "name, scenes, seeds", [("config/gpu.yaml", 10, 3), ("config/gpu_smoke.yaml", 1, 1)], ids=["gpu", "gpu_smoke"]
)
def test_the_gpu_configurations_plan_every_method(tmp_path, name, scenes, seeds):
    """config/gpu.yaml (10 scenes x 3 seeds: 30 units per claim and method) and its smoke run (1 scene, 1 seed) pass
    the schema and the checks, and plan every method latent with the standard AE, the IG-AE and the control and in
    RGB, the IG-AE and the control trained in the run; `snakemake -n` on this CPU (device: cuda plans, warns)."""
    config = yaml.safe_load((REPO / name).read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    check_config(config)
    assert config["device"] == "cuda" and len(config["benchmark"]["seeds"]) == seeds
    assert "checkpoint" not in config["autoencoders"]["igae"] and "checkpoint" not in config["autoencoders"]["control"]
    (tmp_path / "assets").symlink_to(REPO / "assets")
    command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--configfile", str(REPO / name)]
    dry = subprocess.run([*command, "-n"], capture_output=True, text=True, timeout=600)
    assert dry.returncode == 0, dry.stderr[-3000:]
    log = dry.stdout + dry.stderr
    assert job_counts(log) == planned_jobs(scenes, seeds)
    outputs = re.findall(r"output: results/runs/(latent/\w+|rgb)/([\w-]+)/", log)
    for space in ("latent/standard", "latent/igae", "latent/control", "rgb"):
        assert {method for s, method in outputs if s == space} == METHODS, space


def probe_wheel(folder: Path) -> Path:
    """A real, minimal pure-Python wheel of a distribution nothing here has: the runner must install it."""
    name, version = "igae_runner_probe", "0.1"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"VALUE = 1\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for path, data in files.items()
    ]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,", ""]).encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def run(workdir: Path, out: Path, wheels: Path, site: Path, deadline: int, drain: int, pack: int):
    command = [
        "bash", str(RUNNER), "--config", str(REHEARSAL), "--deadline", str(deadline), "--out", str(out),
        "--workdir", str(workdir), "--wheels", str(wheels), "--python", sys.executable, "--drain", str(drain),
        "--pack", str(pack),
    ]  # fmt: skip
    env = {**os.environ, "IGAE_SITE": str(site)}
    return subprocess.run(command, capture_output=True, text=True, timeout=deadline + 60, env=env)


def unpack(out: Path, into: Path) -> Path:
    """The archive a call left in ``out`` (one file, or parts to concatenate), extracted into ``into``."""
    parts = sorted(out.glob("igae_gpu_run.tar.gz*"))
    assert parts, f"no archive in {out}"
    assert len(parts) <= 8 and all(part.stat().st_size <= 16 * 2**20 for part in parts)  # what comes back
    with tarfile.open(fileobj=io.BytesIO(b"".join(part.read_bytes() for part in parts)), mode="r:gz") as archive:
        archive.extractall(into, filter="data")
    return into


def jobs(snakemake_log: str) -> tuple[dict[str, str], set[str]]:
    """({jobid: output} of every job a Snakemake run started, {outputs of those it finished}), from its log."""
    block = r"^(?:local)?rule \w+:\n(?:    .*\n)*?    output: (.+)\n(?:    .*\n)*?    jobid: (\d+)"
    started = {jobid: output for output, jobid in re.findall(block, snakemake_log, flags=re.M)}
    finished = {
        started[jobid] for jobid in re.findall(r"^Finished jobid: (\d+)", snakemake_log, flags=re.M) if jobid in started
    }
    return started, finished


@pytest.mark.slow  # 25 jobs, each a Python process importing torch and nerfstudio: minutes on 2 cores
def test_the_runner_stops_at_its_deadline_and_a_second_call_completes_the_run(tmp_path):
    """Call 1, with nothing to install (the one carried wheel names a distribution .venv has): the workflow starts,
    gets SIGTERM at its deadline (no new job; the running ones finish or are cancelled and marked incomplete), the
    archive says it is not complete (exit 3). Call 2 in the same folder, with one missing wheel among the carried
    ones (installed into the site on PYTHONPATH): no job finished by call 1 runs again, the interrupted ones do, the
    run completes (exit 0) and the archive holds the tables, figures, cards, logs and the runner's own files."""
    workdir, site, wheels = tmp_path / "work", tmp_path / "site", tmp_path / "wheels"
    wheels.mkdir()
    (wheels / f"snakemake-{snakemake.__version__}-py3-none-any.whl").write_bytes(b"")  # present: kept, never opened

    first = run(workdir, tmp_path / "out1", wheels, site, deadline=80, drain=15, pack=5)
    assert first.returncode == 3, first.stdout[-3000:] + first.stderr[-2000:]
    one = unpack(tmp_path / "out1", tmp_path / "a1")
    status = json.loads((one / "logs/gpu_run/status.json").read_text())
    assert not status["complete"] and status["stopped_by_deadline"] and status["elapsed_s"] <= 80
    assert "wheels: nothing to install" in (one / "logs/gpu_run/runner.log").read_text() and not site.exists()
    first_log = (one / "logs/gpu_run/snakemake.log").read_text()
    assert "Will exit after finishing currently running jobs" in first_log  # the graceful SIGTERM
    started_1, finished_1 = jobs(first_log)
    assert finished_1 and not (one / "results/tables").exists()
    assert (one / "logs").is_dir()

    probe_wheel(wheels)
    second = run(workdir, tmp_path / "out2", wheels, site, deadline=1500, drain=60, pack=20)  # room for a loaded CPU
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-2000:]
    two = unpack(tmp_path / "out2", tmp_path / "a2")
    assert json.loads((two / "logs/gpu_run/status.json").read_text())["complete"]
    wheel_rows = [line.split("\t") for line in (two / "logs/gpu_run/wheels.tsv").read_text().splitlines()]
    assert sorted((row[1], row[4]) for row in wheel_rows) == [("igae_runner_probe", "install"), ("snakemake", "keep")]
    assert (site / "igae_runner_probe" / "__init__.py").is_file()
    started_2, _ = jobs((two / "logs/gpu_run/snakemake.log").read_text())
    assert not finished_1 & set(started_2.values()), "call 2 re-ran jobs call 1 had finished"
    assert set(started_1.values()) - finished_1 <= set(started_2.values())  # the interrupted ones ran again

    tables = two / "results/tables"
    assert {p.name for p in tables.glob("*.csv")} >= {"ae_reconstruction.csv", "latent_nvs.csv", "timing.csv",
                                                       "ablation.csv", "claims.csv"}  # fmt: skip
    nvs = pd.read_csv(tables / "latent_nvs.csv")
    notes = nvs[nvs.note.notna()]
    assert list(notes.method.unique()) == ["instant-ngp"] and notes.note.str.contains("GPU-only").all()
    fits = nvs[nvs.note.isna()]
    spaces = sorted(zip(fits.space, fits.autoencoder.fillna(""), strict=True))
    assert spaces == [("latent", "control"), ("latent", "igae"), ("latent", "standard"), ("rgb", "")]
    ablation = pd.read_csv(tables / "ablation.csv")
    assert dict(zip(ablation.autoencoder, ablation.role, strict=True)) == {
        "standard": "main", "igae": "main", "control": "variant"
    }  # fmt: skip
    claims = pd.read_csv(tables / "claims.csv")
    assert {"igae_beats_standard", "gain_from_3d_terms"} <= set(claims.claim) and set(claims.method) == {"tensorf"}
    assert len(list((two / "results/figures").glob("*.png"))) == 5
    assert (two / "results/summary.md").is_file() and (two / "results/results.html").is_file()
    for ae in ("standard", "igae", "control"):
        assert (two / f"results/autoencoders/{ae}/card.json").is_file(), ae
    assert list((two / "logs/fit_latent_nerf").rglob("*.log")) and (two / "logs/gpu_run/config.yaml").is_file()
    # the run folders lost their nerfstudio checkpoints, nothing else
    runs = [path for path in (workdir / "results/runs").rglob("seed*") if path.is_dir()]
    assert len(runs) == 4 and not list((workdir / "results/runs").rglob("*.ckpt"))
    assert all((run / "metrics.json").is_file() and (run / "renders").is_dir() for run in runs)
