"""Cluster execution against a real Slurm: a single-node Slurm 22.05 from Debian's packages (tests/slurm/start_slurm.sh:
slurm-wlm + munge, slurmctld and slurmd on this machine, no GPUs, no accounting) runs the tiny configuration through
the project's own workflow/profiles/slurm with the pinned executor plugin (envs/requirements-slurm.txt).

Slow (minutes: each cluster job starts a Snakemake that imports torch); `pytest -m slow tests/test_slurm.py`. Needs root
(slurmd) and apt-get or the packages already installed; skipped, with the reason, where the machine cannot run them.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
PROFILE = REPO / "workflow" / "profiles" / "slurm"
START_SLURM = REPO / "tests" / "slurm" / "start_slurm.sh"
PLUGIN_PINS = REPO / "envs" / "requirements-slurm.txt"
TINY = REPO / "tests" / "data" / "tiny_config.yaml"
PARTITION = "igae"  # the test cluster's second partition (the default one is `debug`): the documented override
LIGHT_RULES = {
    "tables",
    "figure_qualitative",
    "claims",
    "figure_convergence",
    "figure_igae_training",
    "summary",
    "results_page",
    "all",
}
CLUSTER_RULES = {
    "scene_dataset",
    "real_images",
    "prepare_autoencoder",
    "train_igae",
    "evaluate_autoencoder",
    "encode_latents",
    "fit_latent_nerf",
    "fit_rgb_nerf",
    "figure_ae_reconstruction",
}


def plugin_pins() -> dict[str, str]:
    """{distribution: version} of the executor plugins pinned in envs/requirements-slurm.txt."""
    pins = {}
    for line in PLUGIN_PINS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("snakemake-executor-plugin-"):
            name, version = line.split("==")
            pins[name] = version
    assert set(pins) == {"snakemake-executor-plugin-slurm", "snakemake-executor-plugin-slurm-jobstep"}, pins
    return pins


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> str:
    """A PYTHONPATH entry holding the pinned plugins when the venv lacks them (or has other versions): installed with
    --no-deps into a folder of the test's own, so the test leaves the venv as it found it (their dependencies are
    all in envs/requirements.txt's environment: test_the_plugin_pins_change_nothing_else)."""
    pins = plugin_pins()
    installed = {}
    for name in pins:
        try:
            installed[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed[name] = None
    if installed == pins:
        return ""
    target = tmp_path_factory.mktemp("slurm-plugin")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target)]
    done = subprocess.run(
        [*pip, *(f"{name}=={version}" for name, version in pins.items())], capture_output=True, text=True
    )
    assert done.returncode == 0, f"installing the pinned Slurm plugins failed:\n{done.stderr[-3000:]}"
    return str(target)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running single-node Slurm; yields the environment its clients need (SLURM_CONF). Stopped afterwards."""
    if os.geteuid() != 0:
        pytest.skip("a Slurm cluster on this machine needs root (slurmd runs as root)")
    have_slurm = all(Path(f"/usr/sbin/{daemon}").exists() for daemon in ("slurmctld", "slurmd", "munged"))
    if not have_slurm and not Path("/usr/bin/apt-get").exists():
        pytest.skip("Slurm is not installed and there is no apt-get to install Debian's slurm-wlm and munge")
    folder = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "IGAE_SLURMCTLD_PORT": str(free_port()), "IGAE_SLURMD_PORT": str(free_port())}
    start = subprocess.run(
        ["bash", str(START_SLURM), "start", str(folder), PARTITION],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if start.returncode == 77:
        pytest.skip(start.stderr.strip().splitlines()[-1])
    assert start.returncode == 0, f"tests/slurm/start_slurm.sh failed:\n{start.stdout}\n{start.stderr}"
    try:
        yield {
            "SLURM_CONF": str(folder / "slurm.conf"),
            "log": folder / "log" / "slurmctld.log",
            "jobs": folder / "log" / "jobcomp.txt",  # one line per finished job
        }
    finally:
        subprocess.run(["bash", str(START_SLURM), "stop", str(folder)], capture_output=True, timeout=120)


def test_the_plugin_pins_change_nothing_else():
    """Installing envs/requirements-slurm.txt into the project's environment adds the two plugins and changes no
    package (the unpinned plugin, 2.7+, upgrades numpy to 2.x)."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-", "-r", str(PLUGIN_PINS)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0 and re.search(r"connection|resolve|network|Could not fetch", done.stderr, re.I):
        pytest.skip(f"no package index: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    would_install = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}
    pins = plugin_pins()
    assert set(would_install) <= set(pins), f"the plugin pins would also install or change: {would_install}"
    for name, version in would_install.items():
        assert version == pins[name]


def test_tiny_configuration_through_the_slurm_profile(tmp_path, slurm, plugin_path):
    """The tiny configuration (device: cpu, so no job asks for a GPU: on this GPU-less cluster a request would fail at
    sbatch) through the unmodified profile, with the partition given on the command line as the profile documents.
    Every heavy job goes through sbatch to that partition, the light ones run here, and the tables are those of a
    local run (tests/test_workflow.py::test_end_to_end_tiny_run)."""
    config = tmp_path / "config.yaml"
    config.write_text(TINY.read_text())
    env = {**os.environ, "SLURM_CONF": slurm["SLURM_CONF"]}
    if plugin_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [plugin_path, env.get("PYTHONPATH")]))
    command = [
        str(SNAKEMAKE),
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(tmp_path),
        "--configfile",
        str(config),
        "--profile",
        str(PROFILE),
        # the documented way to choose a partition: --default-resources replaces the profile's block, whole
        "--default-resources",
        f"slurm_partition={PARTITION}",
        "mem_mb=4000",
        "runtime=60",
        # tiny jobs: poll every few seconds (the plugin's default waits 40 s and more between polls)
        "--slurm-init-seconds-before-status-checks",
        "5",
    ]
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    seconds = time.monotonic() - started
    log = run.stdout + run.stderr
    assert run.returncode == 0, f"{log[-6000:]}\nslurmctld:\n{slurm['log'].read_text()[-3000:]}"

    # "Job 5 has been submitted with SLURM jobid 1 (log: .../slurm_logs/rule_scene_dataset/heldout/1.log)."
    submitted = dict(
        re.findall(r"^Job \d+ has been submitted with SLURM jobid (\d+) \(log: \S*/rule_([^/]+)/", log, re.M)
    )
    remote = list(submitted.values())
    local = re.findall(r"^localrule (\w+):", log, flags=re.M)
    jobs = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in slurm["jobs"].read_text().splitlines()]
    spans = sorted(
        (datetime.fromisoformat(job["EndTime"]) - datetime.fromisoformat(job["StartTime"])).total_seconds()
        for job in jobs
    ) or [math.nan]
    print(
        f"\nSlurm: {len(jobs)} jobs through sbatch ({spans[0]:.0f} to {spans[-1]:.0f} s each, median "
        f"{spans[len(spans) // 2]:.0f} s), {len(local)} local, {seconds:.0f} s in all"
    )
    assert set(remote) == CLUSTER_RULES, remote
    assert "tables" in local and set(local) <= LIGHT_RULES, local
    assert sorted(job["JobId"] for job in jobs) == sorted(submitted), (jobs, submitted)
    for job in jobs:
        assert job["JobState"] == "COMPLETED" and job["Partition"] == PARTITION, (submitted[job["JobId"]], job)
        assert "gpu" not in job["Tres"], job  # a CPU configuration asks for no GPU

    results = tmp_path / "results"
    ae = pd.read_csv(results / "tables/ae_reconstruction.csv")
    assert sorted(zip(ae.autoencoder, ae.data, strict=True)) == [
        ("igae", "real"),
        ("igae", "synthetic"),
        ("standard", "real"),
        ("standard", "synthetic"),
    ]
    nvs = pd.read_csv(results / "tables/latent_nvs.csv")
    notes = nvs[nvs.note.notna()]  # no GPU on the cluster's node: instant-ngp is skipped, and the table says so
    assert list(notes.method) == ["instant-ngp"] and notes.psnr.isna().all()
    fits = nvs[nvs.note.isna()]
    assert sorted(zip(fits.space, fits.autoencoder.fillna(""), strict=True)) == [
        ("latent", "igae"),
        ("latent", "standard"),
        ("rgb", ""),
    ]
    for table in (ae, fits):
        assert all(math.isfinite(v) for v in table.psnr) and all(math.isfinite(v) for v in table.ssim)
    timing = pd.read_csv(results / "tables/timing.csv")
    assert sorted(timing.autoencoder) == ["igae", "standard"]
    latent_steps = fits[fits.space == "latent"].set_index("autoencoder").steps  # adaptive: 3 + at most 9 (tiny)
    assert (timing.iterations == latent_steps.loc[timing.autoencoder].values).all()
    assert timing.iterations.between(4, 12).all(), timing.iterations
    assert (timing.train_speedup > 0).all() and (timing.render_speedup > 0).all()
    claims = pd.read_csv(results / "tables/claims.csv")
    assert {"igae_beats_standard", "latent_trains_faster", "latent_renders_faster"} <= set(claims.claim)
    for figure in ("qualitative", "claims", "convergence", "ae_reconstruction"):
        assert (results / f"figures/{figure}.png").stat().st_size > 2_000, figure
    assert "Generated by `igae summary`" in (results / "summary.md").read_text()
