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

from igae.ae.autoencoder import AutoencoderCard, load_with_card, save_autoencoder, small_autoencoder
from igae.ae.latents import load_latents
from igae.cli import main
from igae.files import _UMASK, file_sha256
from igae.metrics import read_rgb
from igae.nerf.convergence import converged_at, curve_tail, is_converged, probe_steps, stops_here, tail_change_db
from igae.nerf.fit import fit
from igae.nerf.method_configs import TwoStageSchedule
from igae.nerf.scoring import (
    RENDERS_FILE,
    load_eval_renders,
    save_eval_renders,
    score_run,
)
from igae.scenes.floor import FLOOR_FILE, compute_scene_floor, scene_floor, write_scene_floor

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


def test_probes_come_every_check_and_at_each_stage_s_end():
    assert probe_steps(0, 100, 25) == [25, 50, 75, 100]
    assert probe_steps(0, 90, 25) == [25, 50, 75, 90]  # the stage's last step always
    assert probe_steps(300, 360, 25) == [325, 350, 360]
    assert probe_steps(5, 5, 25) == []
    latent = TwoStageSchedule(latent_steps=50, align_steps=40, check_every=20, rgb_steps=70, rgb_check_every=30)
    assert latent.probe_steps("latent") == [20, 40, 50, 70, 90]  # both stages, each ending with a point
    assert latent.probe_steps("rgb") == [30, 60, 70]
    long_stage_1 = TwoStageSchedule(latent_steps=300, align_steps=30, check_every=10)
    assert long_stage_1.probe_steps("latent") == [60, 120, 180, 240, 300, 310, 320, 330]  # 5 points in stage 1
    assert latent.steps("rgb") == 70 and latent.steps("latent") == 90 and latent.final_stage_start("latent") == 50
    assert TwoStageSchedule(latent_steps=50, align_steps=40).steps("rgb") == 90  # no rgb_steps: the paper's equal count


def curve(*psnrs, stage="align", step=25, start=0):
    return [{"step": start + step * (k + 1), "stage": stage, "psnr": p} for k, p in enumerate(psnrs)]


def test_converged_reads_the_trend_of_the_second_half_of_the_last_stage():
    flat = (22.0, 21.4, 22.1, 21.5, 22.0)
    assert tail_change_db(curve(17.0, 17.5), 0) is None  # fewer than 5 points in the tail: undecided
    assert is_converged(tail_change_db(curve(17.0, 17.5), 0)) is None
    # points 25..250: the tail is steps 125..250 (6 points)
    assert is_converged(tail_change_db(curve(10, 12, 14, 16, 18, *flat, 22.0), 0)) is True  # ±0.3 dB about flat
    assert is_converged(tail_change_db(curve(10, 12, 14, 16, 17.0, 17.1, 17.2, 17.3, 17.4, 17.5), 0)) is False
    assert is_converged(tail_change_db(curve(10, 12, 14, 16, 22, 21.9, 21.8, 21.7, 21.6, 21.5), 0)) is False  # a drop
    # only the last stage counts, and only its second half: stage 1 (fit) ends at 200, alignment from there
    two_stages = curve(5.0, 9.0, 11.0, 12.0, stage="fit", step=50) + curve(13.0, 16.0, *flat, start=200)
    assert [p["step"] for p in curve_tail(two_stages, 200)] == [300, 325, 350, 375]  # second half of [200, 375]
    assert tail_change_db(two_stages, 200) is None  # 4 tail points
    longer = two_stages + curve(21.7, 21.9, start=375)
    assert len(curve_tail(longer, 200)) == 5 and is_converged(tail_change_db(longer, 200)) is True


def test_adaptive_stopping_stops_at_the_first_converged_probe_or_runs_to_the_cap():
    rising = curve(*[10 + 0.5 * k for k in range(16)])  # +0.5 dB a point: never converged
    assert converged_at(rising, 0) is None  # runs to its cap
    plateau = curve(*[10 + 2 * k for k in range(5)], *[18.0 + 0.01 * k for k in range(11)])  # flat from point 5
    stop = converged_at(plateau, 0)
    assert stop is not None and plateau[stop]["step"] == 225  # tail 125..225: the first flat one of 5 points
    assert stops_here(plateau[: stop + 1], 0) and not any(stops_here(plateau[: i + 1], 0) for i in range(stop))
    stage_1 = curve(*[18.0] * 6, stage="fit")  # flat, but stage 1 is never a stop
    assert converged_at(stage_1, 150) is None


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
        curve=False,
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


@pytest.fixture(scope="module")
def rgb_run(scene_and_ae):
    """A 2-step RGB TensoRF run folder and what fit returned."""
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
    return root / "run_rgb", result


def test_rgb_tensorf_trains_offline_through_the_same_harness(rgb_run):
    root, result = rgb_run[0].parent, rgb_run[1]
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


def test_the_scene_floor_is_the_best_view_independent_picture(scene_and_ae, tmp_path):
    scene = shutil.copytree(scene_and_ae[0], tmp_path / "scene")
    transforms = json.loads((scene / "transforms.json").read_text())
    images = {
        name: read_rgb(scene / name).double() for name in transforms["train_filenames"] + transforms["val_filenames"]
    }
    views = [images[name] for name in transforms["val_filenames"]]  # (H, W, 3) each
    mean_image = torch.stack([images[name] for name in transforms["train_filenames"]]).mean(0)

    def mean_psnr(picture):
        return float(np.mean([-10 * np.log10(((picture - view) ** 2).mean().item()) for view in views]))

    floor = compute_scene_floor(scene)
    assert floor["background_psnr"] == pytest.approx(mean_psnr(torch.ones_like(mean_image)), abs=1e-4)
    assert floor["mean_image_psnr"] == pytest.approx(mean_psnr(mean_image), abs=1e-4)
    assert floor["floor_psnr"] == max(floor["background_psnr"], floor["mean_image_psnr"])
    # stored with the scene, read back from there; a damaged file is named, not trusted
    write_scene_floor(scene)
    assert json.loads((scene / FLOOR_FILE).read_text()) == floor == scene_floor(scene)
    (scene / FLOOR_FILE).write_text("{}")
    with pytest.raises(ValueError, match=f"{FLOOR_FILE} is not a valid floor file"):
        scene_floor(scene)


def test_a_fit_scoring_below_its_scene_floor_is_failed(scene_and_ae, rgb_run, tmp_path):
    """An RGB run whose renders are replaced: by the ground truth it is ok, by the white background (a fit that learned
    nothing of the scene) it is failed, with the floor it was judged by in metrics.json."""
    scene = scene_and_ae[0]
    run = tmp_path / "run"
    shutil.copytree(scene_and_ae[3] / "run_rgb", run)  # written by test_rgb_tensorf_trains_offline_...
    metadata, renders = load_eval_renders(run)
    for picture, status in (
        (lambda view: read_rgb(scene / view), "ok"),
        (lambda view: torch.ones(32, 32, 3), "failed"),
    ):
        for render in renders:
            render.rgb = picture(render.view)
        save_eval_renders(run, "rgb", scene, renders)
        result = score_run(run)
        assert result["status"] == status and result["floor"] == scene_floor(scene)
        assert (result["mean"]["psnr"] < result["floor"]["floor_psnr"]) == (status == "failed")


def test_an_adaptive_fit_stops_where_it_converged_or_at_its_cap(scene_and_ae):
    """Real fits with until_converged: a latent fit that cannot move (learning rates 1e-12) is flat from its first
    alignment probe and stops at the earliest converged probe (5 tail points: 8 probes of stage 2), and it learned
    nothing of the scene, so it is failed; an RGB fit that keeps learning runs to its cap of 4 steps."""
    scene, ae_dir, latents_file, root = scene_and_ae
    frozen = TwoStageSchedule(
        latent_steps=1, align_steps=40, lr_factor=1e-12, decoder_lr=1e-12, until_converged=True, check_every=1
    )
    result = fit(
        "latent", "tensorf", scene, root / "run_frozen", frozen, autoencoder=ae_dir, latents=latents_file,
        model_overrides=SMALL_TENSORF, labels={"dataset": "d", "scene": scene.name, "autoencoder": "tiny"},
    )  # fmt: skip
    assert result["stop_reason"] == "converged" and result["converged"] is True
    assert result["steps"] == 1 + 8 and result["step_cap"] == 41 and result["curve"][-1]["step"] == 9
    assert json.loads((root / "run_frozen" / "timing.json").read_text())["iterations"] == 9
    assert result["status"] == "failed" and result["mean"]["psnr"] < result["floor"]["floor_psnr"]
    capped = fit(
        "rgb", "tensorf", scene, root / "run_capped",
        TwoStageSchedule(latent_steps=1, align_steps=1, rgb_steps=4, until_converged=True, check_every=1,
                         rgb_rays_per_batch=64),
        model_overrides=SMALL_TENSORF, labels={"dataset": "d", "scene": scene.name, "autoencoder": None},
    )  # fmt: skip
    assert capped["stop_reason"] == "cap" and capped["steps"] == capped["step_cap"] == 4
    assert capped["converged"] is None  # 4 points: too few to decide
