"""The nerfstudio plugin: real nerfstudio trainers, 2 iterations, latent and RGB, on a scene rendered here."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from igae.autoencoders import AutoencoderCard, latent_background, load_with_card, save_autoencoder, small_autoencoder
from igae.latent_nerf.method_configs import TwoStageSchedule
from igae.latents import encode_scene, load_latents
from igae.nerf_fit import curve_steps, fit, is_converged
from igae.scenes.procedural import build_procedural_dataset

SMALL_TENSORF = {"init_resolution": 16, "num_uniform_samples": 16, "num_samples": 8}


@pytest.fixture(scope="module")
def scene_and_ae(tmp_path_factory):
    root = tmp_path_factory.mktemp("latent_nerf")
    (scene,) = build_procedural_dataset(root / "scenes", "photo", 1, views=5, image_size=32, eval_fraction=0.2, seed=0)
    torch.manual_seed(0)
    ae = small_autoencoder(latent_channels=4, block_out_channels=(8, 8, 8, 8), norm_num_groups=8, image_size=32)
    card = AutoencoderCard("tiny", "trained", "test", 4, 8, 0.5, [])
    card.latent_background = latent_background(ae, card.normalizer, 32).tolist()
    save_autoencoder(ae, root / "ae", card)
    ae, card = load_with_card(root / "ae")
    encode_scene(ae, card, scene, root / "latents.safetensors")
    return scene, root / "ae", root / "latents.safetensors", root


def test_latents_are_encoded_once_per_frame(scene_and_ae):
    scene, _, latents_file, _ = scene_and_ae
    latents, metadata = load_latents(latents_file)
    frames = [f["file_path"] for f in json.loads((scene / "transforms.json").read_text())["frames"]]
    assert list(latents) == frames
    assert next(iter(latents.values())).shape == (4, 4, 4)  # (C, 32/8, 32/8)
    assert len(metadata["autoencoder_sha256"]) == 64


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


def test_curve_points_are_evenly_spaced_and_end_at_the_last_step():
    assert curve_steps(400) == [80, 160, 240, 320, 400]
    assert curve_steps(150) == [30, 60, 90, 120, 150]
    assert curve_steps(3) == [1, 2, 3]  # fewer steps than points: deduplicated


def test_a_latent_fit_has_its_last_two_curve_points_in_the_alignment_stage():
    assert curve_steps(350, final_stage_start=300) == [100, 200, 300, 325, 350]
    assert curve_steps(25_000, final_stage_start=10_000) == [3333, 6667, 10_000, 17_500, 25_000]
    assert curve_steps(2, final_stage_start=1) == [1, 2]


def test_converged_compares_the_last_two_points_only():
    points = [{"psnr": p} for p in (10.0, 15.0, 17.0, 17.5)]
    assert is_converged(points) is False  # +0.5 dB
    assert is_converged([*points, {"psnr": 17.7}]) is True  # +0.2 dB
    assert is_converged([*points, {"psnr": 17.2}]) is False  # -0.3 dB: a drop counts too
    assert is_converged(points[:1]) is None


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
