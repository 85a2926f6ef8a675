"""The nerfstudio plugin: real nerfstudio trainers, 2 iterations, latent and RGB, on a scene rendered here."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from igae.autoencoders import AutoencoderCard, load_with_card, save_autoencoder, small_autoencoder
from igae.cli import main
from igae.convergence import curve_steps, is_converged
from igae.latent_nerf.method_configs import TwoStageSchedule
from igae.latents import load_latents
from igae.metrics import read_rgb
from igae.nerf_fit import fit
from igae.provenance import _UMASK, file_sha256
from igae.scoring import RENDERS_FILE, load_eval_renders, score_run

SMALL_TENSORF = {"init_resolution": 16, "num_uniform_samples": 16, "num_samples": 8}


def test_latents_are_encoded_once_per_frame(scene_and_ae):
    scene, _, latents_file, _ = scene_and_ae
    latents, metadata = load_latents(latents_file)
    frames = [f["file_path"] for f in json.loads((scene / "transforms.json").read_text())["frames"]]
    assert list(latents) == frames
    assert next(iter(latents.values())).shape == (4, 4, 4)  # (C, 32/8, 32/8)
    assert len(metadata["autoencoder_sha256"]) == 64
    assert latents_file.stat().st_mode & 0o777 == 0o666 & ~_UMASK  # shared like any result, not safetensors' 0600


@pytest.fixture(scope="module")
def latent_run(scene_and_ae):
    """A 1 + 1 step latent TensoRF run folder, and the decoder weights before stage 2 fine-tuned them."""
    scene, ae_dir, latents_file, root = scene_and_ae
    schedule = TwoStageSchedule(latent_steps=1, align_steps=1, lr_factor=1.0)
    decoder_before = {k: v.clone() for k, v in load_with_card(ae_dir)[0].decoder.state_dict().items()}
    result = fit(
        "latent",
        "tensorf",
        scene,
        root / "run_latent",
        schedule,
        autoencoder=ae_dir,
        latents=latents_file,
        model_overrides=SMALL_TENSORF,
        labels={"dataset": "d", "scene": scene.name, "autoencoder": "tiny"},
    )
    return root / "run_latent", result, decoder_before


def test_latent_tensorf_trains_two_stages_and_evaluates(latent_run):
    run, result, decoder_before = latent_run
    timing = json.loads((run / "timing.json").read_text())
    assert set(timing["stage_seconds"]) == {"fit", "align"}
    assert timing["decode_ms_per_view"] > 0
    assert len(result["per_image"]) == 1 and result["per_image"][0]["view"] == "images/r_000.png"
    assert (run / "renders" / "r_000.png").is_file()
    checkpoint = next(run.rglob("*.ckpt"))
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["pipeline"]
    # stage 2 fine-tuned the decoder, and the checkpoint carries it
    changed = [k for k, v in decoder_before.items() if not torch.equal(state[f"autoencoder.decoder.{k}"], v)]
    assert changed
    # the field head renders C = 4 latent channels
    assert state["_model.field.field_output_rgb.net.weight"].shape[0] == 4


@pytest.fixture
def run_copy(latent_run, request):
    """A copy of the latent run folder to change, beside it: the scene it recorded (relative to it) is still found."""
    copy = latent_run[0].with_name(f"copy_{request.node.name}")
    shutil.copytree(latent_run[0], copy)
    yield copy
    shutil.rmtree(copy)


def test_fit_saves_its_eval_renders_losslessly(scene_and_ae, latent_run):
    _, ae_dir, latents_file, _ = scene_and_ae
    run, result, _ = latent_run
    metadata, (render,) = load_eval_renders(run)
    assert metadata["space"] == "latent" and metadata["views"] == ["images/r_000.png"]
    shapes = [tuple(t.shape) for t in (render.rgb, render.latent, render.encoded, render.reconstruction)]
    assert shapes == [(32, 32, 3), (4, 4, 4), (4, 4, 4), (32, 32, 3)]  # decoded (H, W, 3); latents (H/8, W/8, C)
    assert render.rgb.dtype == torch.float32
    # the stage-1 target as the latent pipeline saw it: the latents file's frame in the normaliser's [0, 1] space
    raw = load_latents(latents_file)[0]["images/r_000.png"]  # (C, h, w)
    assert torch.equal(render.encoded, load_with_card(ae_dir)[1].normalizer.to_unit(raw).permute(1, 2, 0))
    # the PNG is an 8-bit preview of the same render; the metrics come from the float one
    preview = torch.from_numpy(np.asarray(Image.open(run / "renders" / "r_000.png")))
    assert torch.equal(preview, (render.rgb.clamp(0, 1) * 255).round().to(torch.uint8))
    assert result["scoring"]["renders_sha256"] == file_sha256(run / RENDERS_FILE)


def test_igae_score_reproduces_the_fit_metrics_exactly(latent_run, run_copy, capsys):
    assert main(["score", str(run_copy)]) == 0
    fitted = json.loads((latent_run[0] / "metrics.json").read_text())
    assert json.loads((run_copy / "metrics.json").read_text()) == fitted
    assert f"PSNR {fitted['mean']['psnr']:.4f} dB (was {fitted['mean']['psnr']:.4f})" in capsys.readouterr().out


def test_rescoring_follows_the_saved_renders(scene_and_ae, run_copy):
    """The decoded render replaced by its ground truth scores 100 dB (the MSE floor); the rest stays as fitted."""
    path = run_copy / RENDERS_FILE
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(path))
    tensors["rgb/images/r_000.png"] = read_rgb(scene_and_ae[0] / "images" / "r_000.png")  # (32, 32, 3)
    save_file(tensors, str(path), metadata=metadata)
    before = json.loads((run_copy / "metrics.json").read_text())
    after = score_run(run_copy)
    assert before["mean"]["psnr"] < 50 and after["mean"]["psnr"] == pytest.approx(100.0)
    assert after == json.loads((run_copy / "metrics.json").read_text())
    assert after["scoring"]["renders_sha256"] != before["scoring"]["renders_sha256"]
    # the latents and D(E(x)) were not touched; the curve was measured during training and is not re-scored
    for key in ("latent_mean", "ae_mean", "curve", "provenance"):
        assert after[key] == before[key]


def test_a_run_without_lossless_renders_is_not_rescored(run_copy, capsys):
    (run_copy / RENDERS_FILE).unlink()
    before = (run_copy / "metrics.json").read_text()
    assert main(["score", str(run_copy)]) == 1
    error = capsys.readouterr().err
    assert f"{run_copy / RENDERS_FILE} does not exist" in error and "fit it again" in error
    assert (run_copy / "metrics.json").read_text() == before


def test_score_finds_a_moved_scene_and_refuses_a_changed_one(scene_and_ae, latent_run, run_copy, tmp_path):
    moved = shutil.copytree(scene_and_ae[0], tmp_path / "moved")
    assert main(["score", str(run_copy), "--scene", str(moved)]) == 0
    assert (run_copy / "metrics.json").read_text() == (latent_run[0] / "metrics.json").read_text()
    Image.new("RGB", (32, 32)).save(moved / "images" / "r_000.png")
    with pytest.raises(ValueError, match="r_000.png is not the image .* was fitted on"):
        score_run(run_copy, scene=moved)


def test_curve_points_are_evenly_spaced_and_end_at_the_last_step():
    assert curve_steps(400) == [50, 100, 150, 200, 250, 300, 350, 400]
    assert curve_steps(160, points=5) == [80, 100, 120, 140, 160]  # all in the second half
    assert curve_steps(3) == [1, 2, 3]  # fewer steps than points: deduplicated


def test_a_latent_fit_has_its_tail_points_in_the_second_half_of_the_alignment_stage():
    assert curve_steps(500, final_stage_start=300) == [100, 200, 300, 400, 425, 450, 475, 500]
    assert curve_steps(25_000, final_stage_start=10_000) == [3333, 6667, 10_000, 17_500, 19_375, 21_250, 23_125, 25_000]
    assert curve_steps(2, final_stage_start=1) == [1, 2]


def curve(*psnrs, stage="align", step=25):
    return [{"step": step * (k + 1), "stage": stage, "psnr": p} for k, p in enumerate(psnrs)]


def test_converged_reads_the_trend_of_the_last_stage_s_tail():
    assert is_converged(curve(17.0, 17.5)) is False  # two points: their difference, +0.5 dB
    assert is_converged(curve(17.5, 17.7)) is True  # +0.2 dB
    assert is_converged(curve(17.5, 17.1)) is False  # -0.4 dB: a drop counts too
    assert is_converged(curve(17.0, 17.1, 17.2, 17.3, 17.4)) is False  # a steady +0.4 dB rise
    assert is_converged(curve(22.0, 21.4, 22.1, 21.5, 22.0)) is True  # ±0.3 dB noise about a flat line
    assert is_converged(curve(10.0, 15.0, 19.0, 17.0, 17.1, 17.2, 17.2, 17.2)) is True  # only the last 5 points count
    assert is_converged(curve(10.0, 12.0, stage="fit") + curve(17.0)) is None  # one point of the last stage
    assert is_converged(curve(17.0)) is None


def test_the_convergence_probe_leaves_the_fit_unchanged(scene_and_ae, latent_run):
    """The probe renders between iterations under a forked RNG: the same fit without it gives the same numbers."""
    scene, ae_dir, latents_file, root = scene_and_ae
    _, with_probe, _ = latent_run
    without = fit(
        "latent",
        "tensorf",
        scene,
        root / "run_latent_no_curve",
        TwoStageSchedule(latent_steps=1, align_steps=1, lr_factor=1.0),
        autoencoder=ae_dir,
        latents=latents_file,
        model_overrides=SMALL_TENSORF,
        labels={"dataset": "d", "scene": scene.name, "autoencoder": "tiny"},
        curve_points=0,
    )
    assert without["curve"] == [] and without["converged"] is None
    assert [p["step"] for p in with_probe["curve"]] == [1, 2]
    assert without["per_image"] == with_probe["per_image"]


def test_latent_checkpoint_loads_through_ns_eval(latent_run):
    """nerfstudio's own loader (what ns-eval and ns-render call) restores the latent run with its fine-tuned decoder."""
    from nerfstudio.utils.eval_utils import eval_setup

    run = latent_run[0]
    _, pipeline, checkpoint, step = eval_setup(run / "nerfstudio" / "latent-tensorf" / "config.yml", test_mode="test")
    assert step == 1 and checkpoint.is_file()
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)["pipeline"]
    loaded = pipeline.autoencoder.decoder.conv_out.weight.cpu()
    assert torch.equal(loaded, saved["autoencoder.decoder.conv_out.weight"])
    camera = pipeline.datamanager.eval_dataset.cameras[0:1].to(pipeline.device)
    assert pipeline.model.get_outputs_for_camera(camera)["rgb"].shape == (4, 4, 4)  # (h, w, C) latent view


def test_ns_eval_reports_decoded_rgb_metrics(latent_run, tmp_path):
    """`ns-eval` on a latent checkpoint reports the four metric families, decoded-RGB PSNR among them."""
    config = latent_run[0] / "nerfstudio" / "latent-tensorf" / "config.yml"
    ns_eval = Path(sys.executable).parent / "ns-eval"
    out = subprocess.run(
        [str(ns_eval), "--load-config", str(config), "--output-path", str(tmp_path / "eval.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads((tmp_path / "eval.json").read_text())["results"]
    for key in ("psnr", "ssim", "latent_psnr", "latent_rel_mse", "ae_psnr", "vs_ae_psnr"):
        assert key in results and results[key] == results[key]  # present and not NaN
    recorded = latent_run[1]["mean"]["psnr"]
    assert abs(results["psnr"] - recorded) < 1e-3  # the same code path as the benchmark's own evaluation


def test_latents_of_another_autoencoder_are_refused(scene_and_ae, tmp_path):
    scene, ae_dir, latents_file, _ = scene_and_ae
    torch.manual_seed(1)
    other = small_autoencoder(latent_channels=4, block_out_channels=(8, 8, 8, 8), norm_num_groups=8, image_size=32)
    card = AutoencoderCard("other", "trained", "test", 4, 8, 0.5, [0.5] * 4)
    save_autoencoder(other, tmp_path / "other", card)
    schedule = TwoStageSchedule(latent_steps=1, align_steps=1)
    with pytest.raises(ValueError, match="re-encode the scene with this autoencoder"):
        fit(
            "latent",
            "tensorf",
            scene,
            tmp_path / "run",
            schedule,
            autoencoder=tmp_path / "other",
            latents=latents_file,
            model_overrides=SMALL_TENSORF,
        )
    assert not (tmp_path / "run").exists()


def test_rgb_tensorf_trains_offline_through_the_same_harness(scene_and_ae):
    scene, _, _, root = scene_and_ae
    schedule = TwoStageSchedule(latent_steps=1, align_steps=1, lr_factor=1.0, rgb_rays_per_batch=64)
    result = fit(
        "rgb",
        "tensorf",
        scene,
        root / "run_rgb",
        schedule,
        model_overrides=SMALL_TENSORF,
        labels={"dataset": "d", "scene": scene.name, "autoencoder": None},
    )
    timing = json.loads((root / "run_rgb" / "timing.json").read_text())
    assert timing["iterations"] == 2 and timing["decode_ms_per_view"] == 0
    assert result["mean"]["psnr"] > 0
    assert result["mean"]["lpips"] is None and "AlexNet" in result["lpips_reason"]
    # an RGB run saves its renders alone, and scores the same from them again
    metadata, renders = load_eval_renders(root / "run_rgb")
    assert metadata["space"] == "rgb" and [r.latent for r in renders] == [None]
    fitted = json.loads((root / "run_rgb" / "metrics.json").read_text())
    assert score_run(root / "run_rgb") == fitted and fitted["per_image"] == result["per_image"]


def test_ns_train_lists_the_latent_method():
    ns_train = Path(sys.executable).parent / "ns-train"
    out = subprocess.run([str(ns_train), "latent-tensorf", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pipeline.autoencoder" in out.stdout


def test_ns_render_writes_decoded_rgb_views(latent_run, tmp_path):
    config = latent_run[0] / "nerfstudio" / "latent-tensorf" / "config.yml"
    ns_render = Path(sys.executable).parent / "ns-render"
    command = [
        str(ns_render),
        "dataset",
        "--load-config",
        str(config),
        "--output-path",
        str(tmp_path),
        "--split",
        "test",
        "--rendered-output-names",
        "rgb_decoded",
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    renders = [p for p in tmp_path.rglob("*") if p.suffix in (".png", ".jpg")]
    assert len(renders) == 1, sorted(tmp_path.rglob("*"))
    render = renders[0]
    from PIL import Image

    assert Image.open(render).size == (32, 32)  # the decoded RGB view, not the 4x4 latent
