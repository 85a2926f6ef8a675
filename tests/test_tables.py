"""From result files to tables and figures; provenance and the atomic writer they rely on.

The result folders here are file-format fixtures: well-formed files with chosen numbers, so the arithmetic is checkable.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from igae import layout
from igae.cli import main
from igae.config import latent_run_dirs, rgb_run_dirs, table_inputs
from igae.files import atomic_write_json, folder_sha256
from igae.metrics import DEFAULT_PROTOCOL
from igae.provenance import config_hash, provenance
from igae.report.figures import qualitative_figure
from igae.report.tables import (
    ABLATION_COLUMNS,
    AE_RECONSTRUCTION_COLUMNS,
    LATENT_NVS_COLUMNS,
    TIMING_COLUMNS,
    ResultFileError,
    ablation_table,
    ae_reconstruction_table,
    latent_nvs_table,
    seconds_to_reach,
    timing_table,
    write_tables,
)
from igae.timing import device_from_description, device_label

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny_config.yaml"

PROVENANCE = {"config_hash": "abc123def456", "ae_sha256": None, "versions": "torch=2.14.1;nerfstudio=1.1.5"}
VIEWS = ["images/r_000.png", "images/r_001.png"]


def write_ae_eval(path, name, synthetic_psnr):
    rows = [
        {"data": "synthetic", "psnr": synthetic_psnr, "ssim": 0.8, "lpips": None, "n_images": 12},
        {"data": "real", "psnr": 25.0, "ssim": 0.7, "lpips": None, "n_images": 5},
    ]
    provenance = {**PROVENANCE, "ae_sha256": f"sha-{name}"}
    atomic_write_json(
        path / f"{name}.json",
        {
            "autoencoder": name,
            "rows": rows,
            "lpips_reason": "LPIPS unavailable: no AlexNet weights",
            "protocol": DEFAULT_PROTOCOL.as_dict(),
            "provenance": provenance,
        },
    )
    return path / f"{name}.json"


def write_run(
    run_dir,
    space,
    method,
    scene,
    psnrs,
    train_s,
    render_ms,
    decode_ms=0.0,
    ae=None,
    iterations=100,
    device="cpu",
    seed=None,
    status="ok",
    curve=None,
    stop_reason="fixed",
):
    """A run folder's metrics.json and timing.json; the curve defaults to one point, the final PSNR at the end."""
    per_image = [{"view": view, "psnr": p, "ssim": 0.5, "lpips": None} for view, p in zip(VIEWS, psnrs, strict=True)]
    if curve is None:
        curve = [{"step": iterations, "train_seconds": train_s, "stage": "fit", "psnr": float(np.mean(psnrs))}]
    metrics = {
        "space": space,
        "method": method,
        "dataset": "procedural",
        "scene": scene,
        "autoencoder": ae,
        "per_image": per_image,
        "mean": {"psnr": float(np.mean(psnrs)), "ssim": 0.5, "lpips": None},
        "lpips_reason": "LPIPS unavailable",
        "floor": {"background_psnr": 9.0, "mean_image_psnr": 12.0, "floor_psnr": 12.0},
        "status": status,
        "protocol": DEFAULT_PROTOCOL.as_dict(),
        "curve": curve,
        "converged": None,
        "curve_delta_db": None,
        "stop_reason": stop_reason,
        "steps": iterations,
        "step_cap": iterations,
        "provenance": {**PROVENANCE, "ae_sha256": f"sha-{ae}" if ae else None},
    }
    if seed is not None:
        metrics["seed"] = seed
    if space == "latent":
        metrics["latent_mean"] = {"psnr": 30.0, "ssim": None}
    timing = {
        "train_seconds": train_s,
        "iterations": iterations,
        "stage_seconds": {"train": train_s},
        "render_ms_per_view": render_ms,
        "decode_ms_per_view": decode_ms,
        "peak_memory_mb": 500.0,
        "device": device,
    }
    if device is None:  # a run folder written before timing.json named its device
        del timing["device"]
    atomic_write_json(run_dir / "metrics.json", metrics)
    atomic_write_json(run_dir / "timing.json", timing)
    return run_dir


@pytest.fixture
def results(tmp_path):
    """Two AE evaluations, two latent runs (one without an RGB partner) and one RGB run."""
    ae_dir = tmp_path / "results" / "ae_eval"
    ae_files = [write_ae_eval(ae_dir, "standard", 18.0), write_ae_eval(ae_dir, "igae", 19.0)]
    latent_root, rgb_root = tmp_path / "results" / "runs" / "latent" / "igae", tmp_path / "results" / "runs" / "rgb"
    latent = [
        write_run(
            latent_root / "tensorf/procedural/s0", "latent", "tensorf", "s0", [14.0, 16.0], 10.0, 5.0, 10.0, "igae"
        ),
        write_run(
            latent_root / "nerfacto/procedural/s0", "latent", "nerfacto", "s0", [13.0, 13.0], 8.0, 4.0, 4.0, "igae"
        ),
    ]
    rgb = [write_run(rgb_root / "tensorf/procedural/s0", "rgb", "tensorf", "s0", [20.0, 22.0], 40.0, 30.0)]
    return {"ae_eval_files": ae_files, "latent_run_dirs": latent, "rgb_run_dirs": rgb, "root": tmp_path}


def test_ae_reconstruction_table_has_one_row_per_autoencoder_and_data(results):
    table = ae_reconstruction_table(results["ae_eval_files"])
    assert list(table.columns) == AE_RECONSTRUCTION_COLUMNS
    assert table[["autoencoder", "data"]].values.tolist() == [
        ["standard", "synthetic"],
        ["standard", "real"],
        ["igae", "synthetic"],
        ["igae", "real"],
    ]
    igae = table[(table.autoencoder == "igae") & (table.data == "synthetic")].iloc[0]
    assert igae.psnr == 19.0 and igae.n_images == 12 and math.isnan(igae.lpips)
    assert igae.ae_sha256 == "sha-igae" and igae.config_hash == "abc123def456"


def test_latent_nvs_table_rows_latent_and_rgb_runs(results):
    table = latent_nvs_table([*results["latent_run_dirs"], *results["rgb_run_dirs"]])
    assert list(table.columns) == LATENT_NVS_COLUMNS
    latent, rgb = table.iloc[0], table.iloc[2]
    assert (latent.space, latent.autoencoder, latent.psnr, latent.latent_psnr) == ("latent", "igae", 15.0, 30.0)
    assert (rgb.space, rgb.autoencoder, rgb.psnr, rgb.n_views) == ("rgb", "", 21.0, 2)
    assert math.isnan(rgb.latent_psnr) and math.isnan(latent.latent_ssim)


def test_timing_table_pairs_runs_and_computes_speedups(results):
    table = timing_table(results["latent_run_dirs"], results["rgb_run_dirs"])
    assert list(table.columns) == TIMING_COLUMNS
    tensorf = table[table.method == "tensorf"].iloc[0]
    assert tensorf.train_speedup == pytest.approx(40.0 / 10.0)
    assert tensorf.render_speedup == pytest.approx(30.0 / (5.0 + 10.0))
    unpaired = table[table.method == "nerfacto"].iloc[0]
    assert math.isnan(unpaired.rgb_train_s) and math.isnan(unpaired.train_speedup)
    assert table.device.tolist() == ["cpu", "cpu"]


def test_timing_table_pairs_only_runs_of_the_same_device(tmp_path):
    """A GPU latent run is never divided by a CPU RGB run: each device's latent run gets its own device's partner."""
    gpu = "cuda:NVIDIA H200"
    latent = [
        write_run(tmp_path / "l_cpu", "latent", "tensorf", "s0", [14.0, 16.0], 10.0, 5.0, 1.0, "igae", device="cpu"),
        write_run(tmp_path / "l_gpu", "latent", "kplanes", "s0", [14.0, 16.0], 2.0, 1.0, 1.0, "igae", device=gpu),
        write_run(tmp_path / "l_gpu2", "latent", "tensorf", "s1", [14.0, 16.0], 2.0, 1.0, 1.0, "igae", device=gpu),
    ]
    rgb = [
        write_run(tmp_path / "r_cpu", "rgb", "tensorf", "s0", [20.0, 22.0], 40.0, 30.0, device="cpu"),
        write_run(tmp_path / "r_gpu", "rgb", "kplanes", "s0", [20.0, 22.0], 3.0, 4.0, device=gpu),
        write_run(tmp_path / "r_cpu2", "rgb", "tensorf", "s1", [20.0, 22.0], 40.0, 30.0, device="cpu"),
    ]
    table = timing_table(latent, rgb).set_index(["method", "scene"])
    assert table.device.tolist() == ["cpu", gpu, gpu]
    assert table.loc[("tensorf", "s0"), "train_speedup"] == pytest.approx(4.0)
    assert table.loc[("kplanes", "s0"), "train_speedup"] == pytest.approx(1.5)
    assert table.loc[("kplanes", "s0"), "render_speedup"] == pytest.approx(2.0)
    cross = table.loc[("tensorf", "s1")]  # GPU latent, CPU RGB: no speed-up
    assert math.isnan(cross.rgb_train_s) and math.isnan(cross.train_speedup) and math.isnan(cross.render_speedup)


def test_runs_of_each_fitting_seed_are_listed_and_paired_seed_by_seed(tmp_path):
    """The workflow's layout (one run folder per seed under the scene's): the config's run lists name every seed's
    run, and a latent run's RGB partner is the RGB run of its own seed."""
    config = yaml.safe_load(TINY.read_text())
    config["benchmark"].update(autoencoders=["igae"], seeds=[1, 2])
    latent = [tmp_path / run for run in latent_run_dirs(config, ["tensorf"])]
    rgb = [tmp_path / run for run in rgb_run_dirs(config, ["tensorf"])]
    assert [p.name for p in latent] == ["seed1", "seed2"] == [p.name for p in rgb]
    for seed, train_s, latent_run, rgb_run in zip([1, 2], [40.0, 80.0], latent, rgb, strict=True):
        write_run(latent_run, "latent", "tensorf", "photo_000", [14.0, 16.0], 10.0, 5.0, ae="igae", seed=seed)
        write_run(rgb_run, "rgb", "tensorf", "photo_000", [20.0, 22.0], train_s, 30.0, seed=seed)
    timing = timing_table(latent, rgb)
    assert timing["seed"].tolist() == [1, 2] and timing["train_speedup"].tolist() == [4.0, 8.0]
    assert latent_nvs_table(latent)["seed"].tolist() == [1, 2]


def test_igae_tables_writes_byte_for_byte_what_the_workflow_s_tables_rule_writes(tmp_path):
    """`igae tables --config` beside the rule tables of a real Snakemake run (that rule alone: the result files are
    fixtures) on the same results: the same four CSVs, byte for byte, skipped methods' notes and ablation included."""
    config = yaml.safe_load(TINY.read_text())
    config["autoencoders"]["control"] = config["autoencoders"]["igae"]
    config["benchmark"]["ablation"] = {"autoencoders": ["control"], "methods": ["tensorf"]}
    inputs = table_inputs(config, torch.cuda.is_available())
    work = tmp_path / "work"
    for index, name in enumerate(config["autoencoders"]):
        write_ae_eval(work / "results" / "ae_eval", name, 18.0 + index)
    for index, run in enumerate(
        inputs.files["latent_run_dirs"]
    ):  # .../latent/{ae}/{method}/{dataset}/{scene}/seed{seed}
        ae, method, _, scene, seed = Path(run).parts[-5:]
        write_run(work / run, "latent", method, scene, [14.0 + index, 16.0], 10.0 + index, 5.0, 2.0, ae=ae,
                  seed=int(seed.removeprefix("seed")))  # fmt: skip
    for run in inputs.files["rgb_run_dirs"]:
        method, _, scene, seed = Path(run).parts[-4:]
        write_run(work / run, "rgb", method, scene, [20.0, 22.0], 40.0, 30.0, seed=int(seed.removeprefix("seed")))
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    tables = [f"results/tables/{name}.csv" for name in ("ae_reconstruction", "latent_nvs", "timing", "ablation")]
    snakemake = Path(sys.executable).parent / "snakemake"
    run = subprocess.run(
        [str(snakemake), *tables, "-s", str(REPO / "Snakefile"), "-d", str(work), "--configfile", str(config_file),
         "--cores", "1", "--allowed-rules", "tables"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    by_rule = {table: (work / table).read_bytes() for table in tables}
    for table in tables:
        (work / table).unlink()
    assert main(["tables", "--config", str(config_file), "--directory", str(work)]) == 0
    assert {table: (work / table).read_bytes() for table in tables} == by_rule
    assert pd.read_csv(work / tables[3])["role"].tolist() == ["main", "main", "variant"]  # the ablation is there
    if not torch.cuda.is_available():  # instant-ngp skipped, and the tables say so
        assert pd.read_csv(work / tables[1])["note"].str.startswith("skipped: instant-ngp").sum() == 1


def test_device_labels_name_the_gpu_model_not_its_index():
    assert device_label("cpu") == "cpu"
    assert device_from_description("cpu (x86_64, 2 threads)") == "cpu"
    assert device_from_description("cuda:1 (NVIDIA H200)") == "cuda:NVIDIA H200"
    assert device_from_description(None) == device_from_description("tpu") == "unknown"


def test_an_old_timing_json_takes_its_device_from_the_provenance_or_stays_unknown(tmp_path):
    """Run folders from before timing.json named its device: metrics.json's provenance.device says where they ran;
    without it the device is 'unknown', and an unknown run is paired with none."""
    latent = write_run(tmp_path / "l", "latent", "tensorf", "s0", [14.0, 16.0], 10.0, 5.0, 1.0, "igae", device=None)
    rgb = write_run(tmp_path / "r", "rgb", "tensorf", "s0", [20.0, 22.0], 40.0, 30.0, device=None)
    unknown = timing_table([latent], [rgb])
    assert unknown.device.tolist() == ["unknown"] and math.isnan(unknown.train_speedup.iloc[0])
    for run, description in ((latent, "cuda:0 (NVIDIA H100 80GB HBM3)"), (rgb, "cuda:1 (NVIDIA H100 80GB HBM3)")):
        metrics = json.loads((run / "metrics.json").read_text())
        metrics["provenance"]["device"] = description
        atomic_write_json(run / "metrics.json", metrics)
    table = timing_table([latent], [rgb])
    assert table.device.tolist() == ["cuda:NVIDIA H100 80GB HBM3"]
    assert table.train_speedup.iloc[0] == pytest.approx(4.0)


def test_a_malformed_metrics_json_is_named_in_the_error(results):
    broken = results["latent_run_dirs"][0] / "metrics.json"
    broken.write_text('{"space": "latent", "method": ')
    with pytest.raises(ResultFileError, match=f"{broken}.*not valid JSON"):
        latent_nvs_table(results["latent_run_dirs"])


def test_a_metrics_json_without_its_mean_names_the_missing_key(results):
    path = results["rgb_run_dirs"][0] / "metrics.json"
    metrics = json.loads(path.read_text())
    del metrics["mean"]
    path.write_text(json.dumps(metrics))
    with pytest.raises(ResultFileError, match=f"{path} lacks mean"):
        timing_table(results["latent_run_dirs"], results["rgb_run_dirs"])


def test_runs_scored_under_different_protocols_are_refused_together(results):
    """After a protocol change, a table mixing re-scored and older runs would compare numbers that do not compare."""
    path = results["rgb_run_dirs"][0] / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["protocol"] = {**metrics["protocol"], "name": "igae-v2"}
    metrics["scoring"] = {"renders": "renders/eval.safetensors", "renders_sha256": "0" * 64, "device": "cpu"}
    path.write_text(json.dumps(metrics))
    assert len(latent_nvs_table(results["rgb_run_dirs"])) == 1  # one protocol, and the scoring record is no obstacle
    older = results["latent_run_dirs"][0] / "metrics.json"
    with pytest.raises(ResultFileError, match=f"igae-v1: {older}.*; igae-v2: {path}.*igae score <run folder>"):
        latent_nvs_table([*results["latent_run_dirs"], *results["rgb_run_dirs"]])


def test_ablation_table_sets_variants_beside_the_main_autoencoders_for_the_ablated_methods(tmp_path):
    runs = []
    for ae, psnrs in (("igae", [[15.0, 17.0], [19.0, 19.0]]), ("no_rgb", [[14.0, 14.0], [16.0, 16.0]])):
        for scene, scene_psnrs in zip(("s0", "s1"), psnrs, strict=True):
            runs.append(write_run(tmp_path / ae / scene, "latent", "tensorf", scene, scene_psnrs, 1.0, 1.0, ae=ae))
    runs.append(write_run(tmp_path / "igae_nerfacto", "latent", "nerfacto", "s0", [12.0, 12.0], 1.0, 1.0, ae="igae"))
    table = ablation_table(latent_nvs_table(runs), main=["igae"], variants=["no_rgb"])
    assert list(table.columns) == ABLATION_COLUMNS
    assert table[["method", "autoencoder", "role", "n_scenes"]].values.tolist() == [
        ["tensorf", "igae", "main", 2],
        ["tensorf", "no_rgb", "variant", 2],
    ]  # nerfacto: no variant ran it
    assert table.psnr.tolist() == [17.5, 15.0] and table.psnr_std.tolist() == pytest.approx([2.1213, 1.4142], 1e-4)
    assert table.n_failed.tolist() == [0, 0]
    assert ablation_table(latent_nvs_table(runs), main=["igae"], variants=[]).empty
    # a failed fit (below its scene's floor) is left out of the mean and counted
    write_run(tmp_path / "no_rgb" / "s0", "latent", "tensorf", "s0", [5.0, 5.0], 1.0, 1.0, ae="no_rgb", status="failed")
    variant = ablation_table(latent_nvs_table(runs), main=["igae"], variants=["no_rgb"]).iloc[1]
    assert (variant.n_scenes, variant.n_failed, variant.psnr) == (1, 1, 16.0)


def test_write_tables_writes_the_four_csvs(results):
    out = results["root"] / "results" / "tables"
    paths = write_tables(results["ae_eval_files"], results["latent_run_dirs"], results["rgb_run_dirs"], out)
    assert sorted(p.name for p in out.iterdir()) == [
        "ablation.csv",
        "ae_reconstruction.csv",
        "latent_nvs.csv",
        "timing.csv",
    ]  # what rule tables declares: the entries of igae.layout.OUTPUTS it writes
    assert sorted(p.name for p in out.iterdir()) == sorted(entry.file for entry in layout.written_by("tables"))
    assert len(pd.read_csv(paths["latent_nvs"])) == 3
    assert pd.read_csv(paths["timing"]).set_index("method").loc["tensorf", "train_speedup"] == pytest.approx(4.0)


def test_qualitative_figure_has_a_row_per_view_and_a_column_per_run_plus_ground_truth(results, tmp_path):
    scene = tmp_path / "scene"
    (scene / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for view in VIEWS:
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(scene / view)
        for run_dir in results["latent_run_dirs"]:
            (run_dir / "renders").mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(run_dir / "renders" / view[7:])
    columns = [("IG-AE TensoRF", results["latent_run_dirs"][0]), ("IG-AE Nerfacto", results["latent_run_dirs"][1])]
    one_view = qualitative_figure(scene, columns[:1], VIEWS[:1], tmp_path / "one.png")
    full = qualitative_figure(scene, columns, VIEWS, tmp_path / "full.png")
    (one_width, one_height), (full_width, full_height) = Image.open(one_view).size, Image.open(full).size
    assert full_width == pytest.approx(one_width * 3 / 2, rel=0.02)
    assert full_height == pytest.approx(one_height * 2, rel=0.02)
    rgb_run = results["rgb_run_dirs"][0]
    (rgb_run / "renders").mkdir()
    Image.open(scene / VIEWS[0]).save(rgb_run / "renders" / "r_000.png")  # r_001 never rendered
    with pytest.raises(FileNotFoundError, match="renders/r_001.png"):
        qualitative_figure(scene, [("RGB TensoRF", rgb_run)], VIEWS, tmp_path / "rgb.png")


def test_config_hash_ignores_key_order_and_follows_values():
    config = {"nerf": {"steps": 100, "methods": ["tensorf"]}, "seed": 0}
    assert config_hash(config) == config_hash({"seed": 0, "nerf": {"methods": ["tensorf"], "steps": 100}})
    assert config_hash(config) != config_hash({**config, "seed": 1})
    record = provenance(config, ae_sha256="f" * 64)
    assert record["config_hash"] == config_hash(config) and "torch=" in record["versions"]


def test_provenance_names_the_cpu_and_the_kernel_path_pytorch_takes():
    """ATEN_CPU_CAPABILITY picks PyTorch's CPU kernels (numbers differ across paths): every result records it."""
    code = "from igae.provenance import provenance; print(provenance({})['versions'])"
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    forced = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert forced.stdout.strip().endswith(";aten_cpu=DEFAULT") and ";cpu=" in forced.stdout
    record = provenance({})
    assert record["host"]["aten_cpu"] == torch.backends.cpu.get_cpu_capability()
    assert record["versions"].endswith(f";aten_cpu={record['host']['aten_cpu']}")


def test_folder_sha256_follows_the_weights_only(tmp_path):
    (tmp_path / "diffusion_pytorch_model.safetensors").write_bytes(b"weights v1")
    (tmp_path / "card.json").write_text("{}")
    before = folder_sha256(tmp_path)
    (tmp_path / "card.json").write_text('{"note": "edited"}')
    assert folder_sha256(tmp_path) == before
    (tmp_path / "diffusion_pytorch_model.safetensors").write_bytes(b"weights v2")
    assert folder_sha256(tmp_path) != before


def test_atomic_write_json_refuses_nan_and_keeps_the_previous_file(tmp_path):
    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"psnr": 20.0})
    with pytest.raises(ValueError, match="NaN"):
        atomic_write_json(path, {"psnr": float("nan")})
    assert json.loads(path.read_text()) == {"psnr": 20.0} and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_method_timing_benchmark_tables_latent_and_rgb_per_step(tmp_path):
    """benchmarks/method_timing.py on the CPU: a tiny TensoRF, latent (1 + 1 steps) and RGB (2 steps), from the
    timing.json files its fits write; instant-ngp is skipped with its reason."""
    import importlib.util

    import torch

    from igae.ae.autoencoder import (
        AutoencoderCard,
        latent_background,
        load_with_card,
        save_autoencoder,
        small_autoencoder,
    )
    from igae.ae.latents import encode_scene
    from igae.scenes.procedural import build_procedural_dataset

    (scene,) = build_procedural_dataset(tmp_path / "scenes", "photo", 1, views=5, image_size=32, eval_fraction=0.2)
    torch.manual_seed(0)
    ae = small_autoencoder(latent_channels=4, block_out_channels=(8, 8, 8, 8), norm_num_groups=8, image_size=32)
    card = AutoencoderCard("tiny", "trained", "test", 4, 8, 0.5, [])
    card.latent_background = latent_background(ae, card.normalizer, 32).tolist()
    save_autoencoder(ae, tmp_path / "ae", card)
    encode_scene(*load_with_card(tmp_path / "ae"), scene, tmp_path / "latents.safetensors")

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "method_timing.py"
    spec = importlib.util.spec_from_file_location("method_timing", path)
    method_timing = importlib.util.module_from_spec(spec)
    sys.modules["method_timing"] = method_timing  # its dataclass looks its module up there
    spec.loader.exec_module(method_timing)
    small = {"tensorf": {"init_resolution": 16, "num_uniform_samples": 16, "num_samples": 8}}
    status = method_timing.main(
        ["--device", "cpu", "--scene", str(scene), "--latents", str(tmp_path / "latents.safetensors")]
        + ["--autoencoder", str(tmp_path / "ae"), "--methods", "tensorf", "instant-ngp", "--latent-steps", "1"]
        + ["--align-steps", "1", "--rgb-steps", "2", "--rgb-rays", "64", "--model", json.dumps(small)]
        + ["--out", str(tmp_path / "timing.csv")]
    )
    assert status == 0
    table = pd.read_csv(tmp_path / "timing.csv")
    assert list(table.columns) == method_timing.COLUMNS
    latent, rgb, skipped = table.iloc[0], table.iloc[1], table.iloc[2]
    assert (latent.space, rgb.space, latent.device, rgb.device) == ("latent", "rgb", "cpu", "cpu")
    assert latent.steps == 2 and rgb.steps == 2 and latent.decode_ms_per_view > 0 and rgb.decode_ms_per_view == 0
    assert latent.fit_s_per_step > 0 and latent.align_s_per_step > 0
    assert latent.train_speedup == pytest.approx(rgb.s_per_step / latent.s_per_step)
    assert latent.render_speedup == pytest.approx(
        rgb.render_ms_per_view / (latent.render_ms_per_view + latent.decode_ms_per_view)
    )
    assert skipped.method == "instant-ngp" and "GPU-only" in skipped.note and math.isnan(skipped.s_per_step)


def test_latent_nvs_carries_each_fit_s_status_floor_and_why_it_stopped(tmp_path):
    runs = [
        write_run(tmp_path / "ok", "latent", "tensorf", "s0", [20.0, 22.0], 10.0, 5.0, ae="igae", iterations=380,
                  stop_reason="converged"),
        write_run(tmp_path / "failed", "rgb", "nerfacto", "s0", [10.0, 10.2], 40.0, 30.0, status="failed",
                  iterations=900, stop_reason="cap"),
    ]  # fmt: skip
    table = latent_nvs_table(runs)
    assert table[["status", "stop_reason", "steps", "floor_psnr"]].values.tolist() == [
        ["ok", "converged", 380, 12.0],
        ["failed", "cap", 900, 12.0],
    ]
    metrics = json.loads((runs[1] / "metrics.json").read_text())
    for status in (None, "great"):  # a run scored before statuses existed, or a wrong one: re-score it
        atomic_write_json(runs[1] / "metrics.json", {**metrics, "status": status})
        with pytest.raises(ResultFileError, match="status = .*re-score the run"):
            latent_nvs_table(runs)


def test_latent_trains_faster_compares_the_time_to_one_psnr_both_fits_reach(tmp_path):
    """Adaptive fits stop at different steps: the timing table times both to the lower final PSNR, interpolated on
    the curves, beside the whole fits' and per-step ratios."""
    latent_curve = [{"step": 100 * k, "train_seconds": 10.0 * k, "stage": "fit", "psnr": p}
                    for k, p in enumerate([12.0, 18.0, 20.0, 21.0], start=1)]  # fmt: skip
    rgb_curve = [{"step": 100 * k, "train_seconds": 20.0 * k, "stage": "fit", "psnr": p}
                 for k, p in enumerate([10.0, 14.0, 18.0, 22.0, 24.0], start=1)]  # fmt: skip
    latent = write_run(tmp_path / "l", "latent", "tensorf", "s0", [21.0, 21.0], 40.0, 5.0, 1.0, "igae",
                       iterations=400, curve=latent_curve, stop_reason="converged")  # fmt: skip
    rgb = write_run(tmp_path / "r", "rgb", "tensorf", "s0", [24.0, 24.0], 100.0, 30.0, iterations=500,
                    curve=rgb_curve, stop_reason="cap")  # fmt: skip
    row = timing_table([latent], [rgb]).iloc[0]
    assert row.quality_target_psnr == 21.0  # the lower final PSNR
    assert row.latent_s_to_target == pytest.approx(40.0)  # reached at its last point
    assert row.rgb_s_to_target == pytest.approx(60.0 + 20.0 * (21.0 - 18.0) / (22.0 - 18.0))  # 75 s, interpolated
    assert row.train_speedup_at_quality == pytest.approx(75.0 / 40.0)
    assert row.train_speedup == pytest.approx(100.0 / 40.0) and row.step_speedup == pytest.approx(0.2 / 0.1)
    assert (row.latent_stop_reason, row.rgb_stop_reason) == ("converged", "cap")
    assert math.isnan(seconds_to_reach(latent_curve, 25.0))


def test_a_failed_fit_is_drawn_as_failed_in_the_qualitative_figure(results, tmp_path):
    scene = tmp_path / "scene"
    (scene / "images").mkdir(parents=True)
    run = results["latent_run_dirs"][0]
    (run / "renders").mkdir()
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (32, 32, 1), dtype=np.uint8).repeat(3, axis=-1)  # (32, 32, 3): no red anywhere
    Image.fromarray(grey).save(scene / VIEWS[0])
    Image.fromarray(255 - grey).save(run / "renders" / "r_000.png")
    pictures = {}
    for status in ("ok", "failed"):
        metrics = json.loads((run / "metrics.json").read_text())
        atomic_write_json(run / "metrics.json", {**metrics, "status": status})
        path = qualitative_figure(scene, [("IG-AE TensoRF", run)], VIEWS[:1], tmp_path / f"{status}.png")
        pictures[status] = np.asarray(Image.open(path).convert("RGB")).astype(int)  # (H, W, 3)

    def red_pixels(picture):  # matplotlib's tab:red (214, 39, 40): the failed label and frame
        return int((np.abs(picture - [214, 39, 40]).sum(-1) < 60).sum())

    assert red_pixels(pictures["ok"]) == 0 and red_pixels(pictures["failed"]) > 100
