"""The Snakemake workflow: config validation before any job, one end-to-end run of a tiny config, re-run behaviour."""

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from conftest import job_counts
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from igae import layout
from igae.config import ConfigError, benchmark_runs, check_config
from igae.report.claims import CLAIMS_COLUMNS
from igae.report.tables import ABLATION_COLUMNS

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
TINY = yaml.safe_load((REPO / "tests" / "data" / "tiny_config.yaml").read_text())


def snakemake(workdir: Path, config: dict, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    config_file = workdir / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile", str(config_file)]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout)


SHIPPED_CONFIGS = ["config.yaml", "config/paper.yaml", "config/all_methods_cpu.yaml", "tests/data/tiny_config.yaml"]


@pytest.mark.parametrize("name", SHIPPED_CONFIGS)
def test_shipped_configs_pass_the_schema_and_the_checks(name):
    """Each configuration the repository ships, through the workflow's own validation: the JSON schema as Snakemake
    applies it (defaults filled in), then the cross-checks."""
    config = yaml.safe_load((REPO / name).read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    check_config(config)
    broken = {**config, "image_size": "large"}
    with pytest.raises(WorkflowError, match="image_size"):
        validate(broken, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))


def test_the_paper_configuration_plans_offline_with_no_data(tmp_path):
    """config/paper.yaml: 33 evaluation scenes (3 ShapeNet categories x 10 + 3 Objaverse uids), 5 methods, 2 AEs, 5
    ablation variants with TensoRF; `snakemake -n` needs neither the data nor the network."""
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    dry = snakemake(tmp_path, paper, "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    scenes = 3 * 10 + 3
    assert job_counts(dry.stdout + dry.stderr) == {
        "prepare_autoencoder": 1,
        "real_images": 1,
        "scene_dataset": 5,
        "train_igae": 6,
        "evaluate_autoencoder": 7,
        "encode_latents": 7 * scenes,
        "fit_latent_nerf": scenes * (2 * 5 + 5 * 1),
        "fit_rgb_nerf": scenes * 5,
        "tables": 1,
        "claims": 1,
        "figure_qualitative": 1,
        "figure_convergence": 1,
        "figure_ae_reconstruction": 1,
        "figure_igae_training": 1,
        "summary": 1,
        "results_page": 1,
        "all": 1,
    }
    assert not (tmp_path / "resources").exists()


def test_the_all_methods_cpu_configuration_plans_every_cpu_method(tmp_path):
    """config/all_methods_cpu.yaml: the default run plus Nerfacto, K-Planes, vanilla-nerf and splatfacto on its 5
    scenes."""
    config = yaml.safe_load((REPO / "config" / "all_methods_cpu.yaml").read_text())
    (tmp_path / "assets").symlink_to(REPO / "assets")  # the shipped standard AE, as benchmarks/default_run.sh links it
    dry = snakemake(tmp_path, config, "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    methods = 5 + torch.cuda.is_available()  # instant-ngp runs on a GPU only
    counts = job_counts(dry.stdout + dry.stderr)
    assert counts["fit_latent_nerf"] == 5 * (2 * methods + 1) and counts["fit_rgb_nerf"] == 5 * methods


def test_every_rule_that_does_work_has_a_log_and_a_benchmark_beside_it():
    """Every rule but `all` writes its log under logs/<rule>/ and Snakemake's time and memory of the job (its
    `benchmark:` TSV) under logs/benchmarks/<rule>/, named by the same wildcards; benchmarks/ holds the benchmark
    scripts, never a run's output."""
    rules = {}
    for path in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        rules.update(re.findall(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", path.read_text(), flags=re.M | re.S))
    assert len(rules) >= 17 and "fit_latent_nerf" in rules and "results_page" in rules
    for name, body in rules.items():
        if name == "all":
            continue
        log = re.search(r'^    log:\n        "(logs/[^"]+)\.log"', body, flags=re.M)
        benchmark = re.search(r'^    benchmark:\n        "([^"]+)"', body, flags=re.M)
        assert log and log.group(1).startswith(f"logs/{name}"), f"rule {name}: no log under logs/{name}"
        assert benchmark, f"rule {name} has no benchmark:"
        assert benchmark.group(1) == f"logs/benchmarks/{log.group(1).removeprefix('logs/')}.tsv", name


LOCAL_PROFILE = REPO / "workflow" / "profiles" / "local"


def started_batches(run_output: str) -> list[list[tuple[str, int]]]:
    """[(rule, gpu_share), ...] of each batch the scheduler started at once ('Execute N jobs...'), from a run's log."""
    batches = []
    for part in re.split(r"^Execute \d+ jobs\.\.\.$", run_output, flags=re.M)[1:]:
        part = part.split("Select jobs to execute...")[0]
        jobs = re.findall(r"^(?:local)?rule (\w+):\n(.*?)(?=^\S|\Z)", part, flags=re.M | re.S)
        batches.append([(rule, int(m.group(1)) if (m := GPU_SHARE.search(body)) else 0) for rule, body in jobs])
    return batches


GPU_SHARE = re.compile(r"resources: .*\bgpu_share=(\d+)")


def test_one_gpu_runs_eight_latent_fits_at_once(tmp_path):
    """config/paper.yaml (device: cuda) with the local profile on a simulated one-GPU, 16-core machine: the scheduler
    itself (a --touch run: every job "runs" instantly, no data needed) starts 8 latent fits at once, 2 RGB fits, the
    IG-AE alone, and never more than one GPU's 100 units. Without the GPU shares, 16 fits would start together."""
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    assert paper["device"] == "cuda"
    out = snakemake(tmp_path, paper, "--profile", str(LOCAL_PROFILE), "--cores", "16", "--touch")
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert 'gpu_share=Resource("gpu_share", 100)' in log  # the capacity the local profile declares
    batches = started_batches(log)
    total = re.search(r"^(\d+) of \1 steps \(100%\) done$", log, flags=re.M)
    assert total and sum(map(len, batches)) == int(total.group(1))  # every job of the DAG was read from the log
    most = {}
    for batch in batches:
        assert sum(share for _, share in batch) <= 100, batch
        for rule in {rule for rule, _ in batch}:
            most[rule] = max(most.get(rule, 0), sum(r == rule for r, _ in batch))
    assert (most["fit_latent_nerf"], most["fit_rgb_nerf"], most["train_igae"]) == (8, 2, 1)
    shares = {rule: share for batch in batches for rule, share in batch}
    assert shares["fit_latent_nerf"] == 12 and shares["train_igae"] == 100


def test_on_the_cpu_no_job_holds_a_gpu_share(tmp_path):
    """device: cpu (the tiny config) with the local profile: every GPU share is 0, so the profile's one-GPU capacity
    limits nothing and the cores alone decide."""
    dry = snakemake(tmp_path, TINY, "--profile", str(LOCAL_PROFILE), "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    shares = [int(share) for share in GPU_SHARE.findall(dry.stdout + dry.stderr)]
    assert len(shares) >= 6 and set(shares) == {0}


def test_every_fit_runs_once_per_fitting_seed(tmp_path):
    """benchmark.seeds: each latent (AE, method, scene) and each RGB (method, scene) is fitted once per seed, in its own
    run folder, with that seed; a configuration still naming the old single `seed` is refused with the key named."""
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["benchmark"]["seeds"] = [7, 8]
    dry = snakemake(tmp_path, config, "-n", "-p")
    assert dry.returncode == 0, dry.stderr[-3000:]
    single = job_counts(snakemake(tmp_path, TINY, "-n").stdout)
    counts = job_counts(dry.stdout)
    assert counts["fit_latent_nerf"] == 2 * single["fit_latent_nerf"] and counts["fit_rgb_nerf"] == 2
    rgb = set(re.findall(r"output: (results/runs/rgb/\S+)", dry.stdout))
    assert rgb == {f"results/runs/rgb/tensorf/heldout/photo_000/seed{seed}" for seed in (7, 8)}
    config["benchmark"]["seed"] = 7
    refused = snakemake(tmp_path, config, "-n")
    assert refused.returncode != 0 and "'seed' was unexpected" in refused.stdout + refused.stderr


def test_a_misspelt_training_key_is_caught_before_any_job():
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["autoencoders"]["igae"]["training"]["joint_step"] = 3
    with pytest.raises(ConfigError, match=r"autoencoders\.igae\.training: .*joint_step"):
        check_config(config)
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["autoencoders"]["standard"]["training"]["stepz"] = 3
    with pytest.raises(ConfigError, match=r"autoencoders\.standard\.training: .*stepz"):
        check_config(config)


def test_a_mesh_source_must_name_a_folder_or_uids():
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["scenes"]["meshes"] = {"source": "mesh", "path": "/no/such/folder"}
    with pytest.raises(ConfigError, match=r"scenes\.meshes\.path = '/no/such/folder' is not a folder"):
        check_config(config)
    config["scenes"]["meshes"] = {"source": "mesh"}
    with pytest.raises(ConfigError, match="exactly one of `path`"):
        check_config(config)


def test_unknown_key_is_rejected_before_any_job(tmp_path):
    config = {**TINY, "benchmrk": TINY["benchmark"]}
    out = snakemake(tmp_path, config, "-n")
    assert out.returncode != 0
    assert "benchmrk" in out.stdout + out.stderr
    assert not (tmp_path / "resources").exists()


def test_wrong_value_is_rejected_with_its_key(tmp_path):
    config = {**TINY, "benchmark": {**TINY["benchmark"], "methods": ["tensorff"]}}
    out = snakemake(tmp_path, config, "-n")
    assert out.returncode != 0 and "tensorff" in out.stdout + out.stderr


def test_unknown_base_autoencoder_names_the_key():
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["autoencoders"]["igae"]["base"] = "standrd"
    with pytest.raises(ConfigError, match=r"autoencoders\.igae\.base = 'standrd' names no autoencoder"):
        check_config(config)


def test_igae_scenes_may_not_be_benchmark_scenes():
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["benchmark"]["datasets"] = ["heldout", "synthetic"]
    with pytest.raises(ConfigError, match="also a benchmark dataset"):
        check_config(config)


def test_ablation_variants_run_only_the_ablation_methods():
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["autoencoders"]["control"] = {**config["autoencoders"]["igae"]}
    config["benchmark"]["ablation"] = {"autoencoders": ["control"], "methods": ["tensorf"]}
    assert benchmark_runs(config) == [
        ("standard", "tensorf"),
        ("standard", "instant-ngp"),
        ("igae", "tensorf"),
        ("igae", "instant-ngp"),
        ("control", "tensorf"),
    ]
    config["benchmark"]["ablation"]["methods"] = ["nerfacto"]
    with pytest.raises(ConfigError, match=r"benchmark\.ablation\.methods lists \['nerfacto'\], which benchmark"):
        check_config(config)
    config["benchmark"]["ablation"] = {"autoencoders": ["contrl"], "methods": ["tensorf"]}
    with pytest.raises(ConfigError, match=r"benchmark\.ablation\.autoencoders lists 'contrl'"):
        check_config(config)


QUALITY_TABLES = ("ae_reconstruction.csv", "latent_nvs.csv", "ablation.csv")
"""The tables with no timing in them: two runs of one config write them byte for byte the same."""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    """The tiny config run once, end to end, and its quality tables as written (tests below change the folder)."""
    workdir = tmp_path_factory.mktemp("tiny_run")
    out = snakemake(workdir, TINY, "--cores", "2")
    assert out.returncode == 0, out.stderr[-3000:]
    return workdir, {name: (workdir / "results/tables" / name).read_bytes() for name in QUALITY_TABLES}


def test_end_to_end_tiny_run(tiny_run):
    tmp_path, _ = tiny_run

    ae = pd.read_csv(tmp_path / "results/tables/ae_reconstruction.csv")
    assert sorted(zip(ae.autoencoder, ae.data, strict=True)) == [
        ("igae", "real"),
        ("igae", "synthetic"),
        ("standard", "real"),
        ("standard", "synthetic"),
    ]
    nvs = pd.read_csv(tmp_path / "results/tables/latent_nvs.csv")
    if not torch.cuda.is_available():  # the GPU-only method is skipped, and the table says so
        notes = nvs[nvs.note.notna()]
        assert list(notes.method) == ["instant-ngp"] and "GPU-only" in notes.note.iloc[0]
        assert notes.psnr.isna().all()
        nvs = nvs[nvs.note.isna()]
    assert sorted(zip(nvs.space, nvs.autoencoder.fillna(""), strict=True)) == [
        ("latent", "igae"),
        ("latent", "standard"),
        ("rgb", ""),
    ]
    timing = pd.read_csv(tmp_path / "results/tables/timing.csv")
    assert sorted(timing.autoencoder) == ["igae", "standard"]
    for table in (ae, nvs):
        assert all(math.isfinite(v) for v in table.psnr) and all(math.isfinite(v) for v in table.ssim)
        assert table.lpips.isna().all() and table.lpips_reason.str.contains("AlexNet").all()
    assert (timing.train_speedup > 0).all() and (timing.render_speedup > 0).all()
    latent_fits = nvs[nvs.space == "latent"]
    assert (latent_fits.step_cap == 3 + 9).all()  # benchmark.schedule_overrides.tensorf took effect
    assert (timing.iterations == latent_fits.set_index("autoencoder").loc[timing.autoencoder, "steps"].values).all()
    for table in (ae, nvs, timing):
        assert table.config_hash.notna().all() and table.versions.str.contains("nerfstudio=1.1.5").all()
    assert (ae.ae_sha256.str.len() == 64).all()
    assert (tmp_path / "results/figures/qualitative.png").stat().st_size > 10_000
    assert list(pd.read_csv(tmp_path / "results/tables/ablation.csv").columns) == ABLATION_COLUMNS  # no variants
    claims = pd.read_csv(tmp_path / "results/tables/claims.csv")
    assert list(claims.columns) == CLAIMS_COLUMNS
    assert {"igae_beats_standard", "latent_trains_faster", "latent_renders_faster"} <= set(claims.claim)
    # one scene, one seed: no interval yet; a unit whose fit failed (below its scene's floor) is left out, and said so
    assert (claims.method == "tensorf").all() and (claims.n + claims.n_excluded == 1).all()
    assert all("left out" in note for note in claims.loc[claims.n_excluded > 0, "note"])
    assert claims.ci_low.isna().all() and (claims.verdict == "inconclusive").all()
    for figure in ("claims", "convergence", "ae_reconstruction", "igae_training"):
        assert (tmp_path / f"results/figures/{figure}.png").stat().st_size > 2_000, figure
    # the IG-AE's training curves: 3 warm-up + 3 joint steps give a point after 0, 1, 2, 3 steps of each phase
    curves = json.loads((tmp_path / "results/autoencoders/igae/card.json").read_text())["recipe"]["curves"]
    assert [(point["phase"], point["phase_step"]) for point in curves] == [
        (phase, step) for phase in ("warmup", "joint") for step in range(4)
    ]
    psnrs = [value for point in curves for key, value in point.items() if key.endswith(("train", "heldout", "real"))]
    assert len(psnrs) == 7 * 8 and all(math.isfinite(value) and 0 < value < 100 for value in psnrs)
    # every fit's convergence curve reaches the tables; the summary section is made from them
    fits = nvs[nvs.note.isna()]
    assert len(fits) == 3 and fits.converged.notna().all() and fits.curve_final_psnr.notna().all()
    assert set(fits.stop_reason) <= {"converged", "cap"} and (fits.steps <= fits.step_cap).all()
    assert set(fits.status) <= {"ok", "failed"} and fits.floor_psnr.notna().all()
    summary = (tmp_path / "results/summary.md").read_text()
    assert "Generated by `igae summary`" in summary and "igae_beats_standard" in summary
    # the results page: every table as a table under its column captions, every figure with its caption
    page = (tmp_path / "results/results.html").read_text()
    assert page.count('<table class="data">') == 4 and "No rows (columns: method, dataset" in page  # + empty ablation
    assert "rgb_render_ms / (latent_render_ms + latent_decode_ms)" in page and page.count("data:image/png") == 5
    # the Snakemake report: its start page links to that page (one click); each CSV and PNG carries its caption
    report = snakemake(tmp_path, TINY, "--report", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr[-3000:]
    html = (tmp_path / "report.html").read_text()
    assert "every table and figure" in html and "javascript:app.setView" in html
    assert "Training and rendering time (paper Tab. 5)" in html and "Claims, forest plot" in html
    for path in layout.final_outputs():  # every table and figure of the list, made by the rule that declares it
        assert (tmp_path / path).is_file(), path
        assert Path(path).name in html, path  # and in the report, under its caption

    # a complete run leaves nothing to do
    again = snakemake(tmp_path, TINY, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

    # one more IG-AE variant re-runs only what depends on it
    ablation = yaml.safe_load(yaml.safe_dump(TINY))
    ablation["autoencoders"]["igae_no_rgb"] = {**TINY["autoencoders"]["igae"]}
    ablation["autoencoders"]["igae_no_rgb"]["training"] = {
        **TINY["autoencoders"]["igae"]["training"],
        "loss": {"rgb": False},
    }
    ablation["benchmark"]["ablation"] = {"autoencoders": ["igae_no_rgb"], "methods": ["tensorf"]}
    dry = snakemake(tmp_path, ablation, "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert job_counts(dry.stdout + dry.stderr) == {
        "all": 1,
        "claims": 1,
        "encode_latents": 1,
        "evaluate_autoencoder": 1,
        "figure_ae_reconstruction": 1,
        "figure_convergence": 1,
        "figure_igae_training": 1,
        "figure_qualitative": 1,
        "fit_latent_nerf": 1,
        "summary": 1,
        "results_page": 1,
        "tables": 1,
        "train_igae": 1,
    }

    # a run interrupted before it finished left only its temporary folder: it is re-run, never taken as a result
    shutil.rmtree(tmp_path / "results/runs/rgb")
    shutil.rmtree(tmp_path / "results/tables")
    (tmp_path / "results/runs/rgb/tensorf/heldout/photo_000/seed1234.tmp").mkdir(parents=True)
    dry = snakemake(tmp_path, TINY, "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert job_counts(dry.stdout + dry.stderr)["fit_rgb_nerf"] == 1


def test_splatting_joins_a_finished_run_with_its_own_fits_only(tiny_run):
    """splatfacto added to the finished tiny run: its 2 + 2-step latent fits (standard AE, IG-AE) and its 4-step RGB
    fit run through the workflow on the PyTorch rasterizer, no other latent fit re-runs, and its rows reach the tables
    and the claims."""
    workdir, _ = tiny_run
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["benchmark"]["methods"].append("splatfacto")
    config["benchmark"]["schedule_overrides"]["splatfacto"] = {"latent_steps": 2, "align_steps": 2, "rgb_steps": 4}
    config["benchmark"]["model"]["splatfacto"] = {"num_random": 300}
    dry = snakemake(workdir, config, "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    planned = set(re.findall(r"output: (results/runs/\S+)", dry.stdout))
    splat = {f"results/runs/latent/{ae}/splatfacto/heldout/photo_000/seed1234" for ae in ("standard", "igae")}
    assert {run for run in planned if "/latent/" in run} == splat
    assert "results/runs/rgb/splatfacto/heldout/photo_000/seed1234" in planned
    out = snakemake(workdir, config, "--cores", "2")
    assert out.returncode == 0, out.stderr[-3000:]
    nvs = pd.read_csv(workdir / "results/tables/latent_nvs.csv")
    fits = nvs[nvs.method == "splatfacto"]
    assert sorted(zip(fits.space, fits.autoencoder.fillna(""), strict=True)) == [
        ("latent", "igae"),
        ("latent", "standard"),
        ("rgb", ""),
    ]
    assert (fits.steps == 4).all() and fits.psnr.map(math.isfinite).all()
    for run in splat | {"results/runs/rgb/splatfacto/heldout/photo_000/seed1234"}:
        metrics = json.loads((workdir / run / "metrics.json").read_text())
        assert metrics["rasterizer"]["backend"] == "torch" and metrics["gaussian_counts"][0]["count"] == 300
    claims = pd.read_csv(workdir / "results/tables/claims.csv")
    assert {"igae_beats_standard", "latent_trains_faster"} <= set(claims[claims.method == "splatfacto"].claim)


def kill_session(session: int) -> None:
    """SIGKILL every process of a session (Snakemake and the jobs it started), as a power cut or an OOM kill would."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, fields = int(stat.parent.name), stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:  # fields after the command name: state, ppid, pgrp, session, ...
                os.kill(pid, signal.SIGKILL)
        except (OSError, IndexError, ValueError):
            pass  # the process ended meanwhile


def test_killed_run_unlocks_and_resumes_to_the_same_tables(tmp_path, tiny_run):
    """kill -9 of Snakemake and its jobs in the middle of a NeRF fit, `--unlock`, re-run (`--rerun-incomplete`): the
    finished jobs are kept, the interrupted ones start again from nothing, and the quality tables come out
    byte-identical to a clean run's."""
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(TINY))
    command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--configfile", str(config_file)]
    run = subprocess.Popen([*command, "--cores", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while not list(tmp_path.glob("results/runs/latent/*/*/*/*/.*.tmp-*")):  # a fit is writing its run folder
            assert run.poll() is None, "the run ended before any NeRF fit started"
            assert time.monotonic() < deadline, "no NeRF fit started within 10 minutes"
            time.sleep(0.1)
    finally:
        kill_session(run.pid)
        run.wait()
    assert not (tmp_path / "results/tables").exists()
    killed = list(tmp_path.glob("results/runs/latent/*/*/*/*/.*.tmp-*"))  # what kill -9 left: no result, a temporary
    assert killed
    autoencoder = killed[0].relative_to(tmp_path / "results/runs/latent").parts[0]
    assert (tmp_path / "results/autoencoders" / autoencoder).is_dir()  # what the fit needed finished before it
    igae_done = (tmp_path / "results/autoencoders/igae").is_dir()  # or it was training beside the killed fit

    # a plain re-run stops, saying what to do: the lock is stale (--unlock), and a job killed after its output
    # appeared (a latents file, written atomically) is not marked done (--rerun-incomplete; the profiles set it)
    refused = snakemake(tmp_path, TINY, "--cores", "2")
    assert refused.returncode != 0 and re.search(r"--unlock|--rerun-incomplete", refused.stdout + refused.stderr)
    unlocked = snakemake(tmp_path, TINY, "--unlock")
    assert unlocked.returncode == 0, unlocked.stderr[-3000:]
    plan = snakemake(tmp_path, TINY, "-n", "--rerun-incomplete")
    assert plan.returncode == 0, plan.stderr[-3000:]
    todo = job_counts(plan.stdout + plan.stderr)
    assert "prepare_autoencoder" not in todo and todo["fit_latent_nerf"] >= 1
    assert ("train_igae" in todo) != igae_done  # finished jobs are kept, unfinished ones planned

    resumed = snakemake(tmp_path, TINY, "--cores", "2", "--rerun-incomplete")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not list(tmp_path.glob("results/runs/**/.*.tmp-*"))  # the re-run cleared the killed fit's temporary
    _, clean_tables = tiny_run
    for name, clean in clean_tables.items():
        assert (tmp_path / "results/tables" / name).read_bytes() == clean, f"{name} differs from a clean run's"
