"""IG-AE training: the warm-up trains the Tri-Planes on a frozen AE, the joint phase trains everything switched on."""

import math
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL

from igae.ae.autoencoder import LatentNormalizer, decode, encode
from igae.ae.igae_training import LOSS_TERMS, IGAECurveData, SceneViews, images_to_model_range, train_igae
from igae.ae.training_configs import IGAELossConfig, IGAETrainingConfig, LatentTriPlaneConfig, TriPlaneRenderConfig

SIZE = 32  # images; latents are 4 x 4 with the f8 AE below


def tiny_autoencoder() -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(
        block_out_channels=(16, 16, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=SIZE,
    )


def orbit_camera(angle: float) -> torch.Tensor:
    """(4, 4) OpenCV c2w on a circle of radius 1.3 around the y axis, looking at the origin."""
    position = torch.tensor([1.3 * math.sin(angle), 0.0, -1.3 * math.cos(angle)])
    forward = -position / position.norm()
    down = torch.tensor([0.0, 1.0, 0.0])
    right = torch.linalg.cross(down, forward)
    c2w = torch.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, forward, position
    return c2w


def synthetic_scene(seed: int, views: int = 4) -> SceneViews:
    """A coloured blob seen from ``views`` cameras around it: smooth images, so latents are learnable."""
    generator = torch.Generator().manual_seed(seed)
    colour = torch.rand(3, 1, 1, generator=generator) * 2 - 1
    grid = torch.linspace(-1, 1, SIZE)
    images = []
    for view in range(views):
        shift = 0.3 * math.sin(view + seed)
        blob = torch.exp(-((grid[None, :] - shift) ** 2 + grid[:, None] ** 2) / 0.2)  # (H, W)
        images.append((blob * colour + (1 - blob)).clamp(-1, 1))  # white background
    intrinsics = torch.tensor([[1.09375, 0.0, 0.5], [0.0, 1.09375, 0.5], [0.0, 0.0, 1.0]])
    return SceneViews(
        images=torch.stack(images),
        c2w_opencv=torch.stack([orbit_camera(2 * math.pi * view / views) for view in range(views)]),
        intrinsics_normalized=intrinsics.expand(views, 3, 3).clone(),
    )


def tiny_config(**changes) -> IGAETrainingConfig:
    config = IGAETrainingConfig(
        warmup_steps=25,
        joint_steps=3,
        batch_views=4,
        warmup_batch_views=4,
        batch_real=2,
        warmup_lr_mlp=1e-2,
        warmup_lr_planes=1e-2,
        joint_lr_planes=1e-2,
        triplanes=LatentTriPlaneConfig(
            resolution=8, features=4, hidden=16, render=TriPlaneRenderConfig(n_coarse=8, n_fine=8)
        ),
        log_every=1000,
    )
    return replace(config, **changes)


def run(config: IGAETrainingConfig, perceptual=None, real=True, curve_data=None):
    ae = tiny_autoencoder()
    scenes = [synthetic_scene(0), synthetic_scene(1)]
    real_images = torch.rand(5, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(7)) * 2 - 1 if real else None
    logs = []
    result = train_igae(
        ae,
        LatentNormalizer(),
        scenes,
        real_images,
        config,
        perceptual=perceptual,
        log=logs.append,
        curve_data=curve_data,
    )
    return result, logs


def curve_data() -> IGAECurveData:
    """Held-out views of the two training scenes of :func:`run` (other cameras of the same blobs) and real images."""
    heldout = [synthetic_scene(0, views=6), synthetic_scene(1, views=6)]
    for scene in heldout:
        scene.images, scene.c2w_opencv, scene.intrinsics_normalized = (
            scene.images[1::3],
            scene.c2w_opencv[1::3],
            scene.intrinsics_normalized[1::3],
        )  # 2 views each, at angles the 4 training views do not have
    real = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(8)) * 2 - 1
    return IGAECurveData(heldout=heldout, real=real)


def test_warmup_decreases_the_latent_loss():
    result, _ = run(tiny_config(joint_steps=0))
    losses = [entry["latent"] for entry in result.history if entry["phase"] == "warmup"]
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


def test_warmup_leaves_the_autoencoder_unchanged():
    ae_before = tiny_autoencoder().state_dict()
    result, _ = run(tiny_config(warmup_steps=3, joint_steps=0))
    for name, value in result.ae.state_dict().items():
        assert torch.equal(value, ae_before[name]), name


def test_joint_phase_trains_the_autoencoder_and_the_planes():
    warmup_only, _ = run(tiny_config(warmup_steps=3, joint_steps=0))
    joint, _ = run(tiny_config(warmup_steps=3))
    assert not torch.equal(joint.triplanes.planes, warmup_only.triplanes.planes)
    assert not torch.equal(joint.ae.encoder.conv_in.weight, warmup_only.ae.encoder.conv_in.weight)
    assert not torch.equal(joint.ae.decoder.conv_out.weight, warmup_only.ae.decoder.conv_out.weight)


def test_parity_mode_leaves_the_planes_and_mlp_unchanged_in_the_joint_phase():
    warmup_only, _ = run(tiny_config(warmup_steps=3, joint_steps=0))
    joint, _ = run(tiny_config(warmup_steps=3, parity_freeze_triplanes_in_joint=True))
    assert torch.equal(joint.triplanes.planes, warmup_only.triplanes.planes)
    for before, after in zip(warmup_only.decoder.parameters(), joint.decoder.parameters(), strict=True):
        assert torch.equal(before, after)
    assert not torch.equal(joint.ae.decoder.conv_out.weight, warmup_only.ae.decoder.conv_out.weight)


def test_history_has_exactly_the_switched_on_terms():
    def perceptual(prediction, target):
        return (prediction - target).abs().mean()

    config = tiny_config(warmup_steps=2, joint_steps=2, loss=IGAELossConfig(rgb=False))
    result, _ = run(config, perceptual=perceptual)
    joint = [entry for entry in result.history if entry["phase"] == "joint"]
    assert len(joint) == 2
    assert "rgb" not in joint[0]
    for term in ("latent", "ae_synth", "ae_real_mse", "ae_real_perceptual", "real_latent_tv", "plane_tv"):
        assert math.isfinite(joint[0][term]), term
    assert set(result.history[0]) >= {"step", "phase", "latent", "plane_tv", "total"}
    assert "rgb" not in result.history[0] and "ae_synth" not in result.history[0]  # warm-up: L_latent + TV only


def test_missing_perceptual_network_and_real_images_are_skipped_and_logged():
    result, logs = run(tiny_config(warmup_steps=1, joint_steps=1), perceptual=None, real=False)
    joint = result.history[-1]
    assert not {"ae_real_mse", "ae_real_perceptual", "real_latent_tv"} & set(joint)
    assert any("perceptual" in line and "skipped" in line for line in logs)
    assert any("no real images" in line for line in logs)


def test_same_seed_same_history_on_cpu():
    first, _ = run(tiny_config(warmup_steps=3, joint_steps=2))
    second, _ = run(tiny_config(warmup_steps=3, joint_steps=2))
    strip = [{k: v for k, v in entry.items() if k != "seconds"} for entry in first.history]
    assert strip == [{k: v for k, v in entry.items() if k != "seconds"} for entry in second.history]
    assert torch.equal(first.triplanes.planes, second.triplanes.planes)


def test_mismatched_cameras_are_reported():
    scene = synthetic_scene(0)
    scene.c2w_opencv = scene.c2w_opencv[:3]
    with pytest.raises(ValueError, match="scene 0: cameras"):
        train_igae(tiny_autoencoder(), LatentNormalizer(), [scene], None, tiny_config())


def test_scene_views_take_the_train_views_of_a_loaded_scene_in_minus_one_one():
    images = np.stack([np.full((SIZE, SIZE, 3), value, dtype=np.float32) for value in (0.0, 0.25, 0.5, 1.0)])
    scene = SimpleNamespace(
        images=images,
        c2w_opencv=np.stack([np.eye(4, dtype=np.float32) * (i + 1) for i in range(4)]),
        intrinsics_normalized=np.stack([np.eye(3, dtype=np.float32)] * 4),
        train_indices=[0, 2, 3],
        eval_indices=[1],
    )
    views = SceneViews.from_scene_data(scene)
    assert views.images.shape == (3, 3, SIZE, SIZE)
    assert views.images[:, 0, 0, 0].tolist() == [-1.0, 0.0, 1.0]
    assert views.c2w_opencv[:, 0, 0].tolist() == [1.0, 3.0, 4.0]


def uint8_scene(seed: int, views: int = 4) -> SceneViews:
    """``synthetic_scene``'s views quantised to uint8 (V, 3, H, W) in 0..255, as PNG views are."""
    scene = synthetic_scene(seed, views)
    scene.images = ((scene.images + 1) * 127.5).round().to(torch.uint8)
    return scene


def test_images_to_model_range_matches_the_float_loaders_bit_for_bit():
    values = np.arange(256, dtype=np.uint8)
    from_png = torch.from_numpy(values.astype(np.float32) / 255.0) * 2 - 1  # load_scene + SceneViews.from_scene_data
    from_real = torch.from_numpy(values).float() / 127.5 - 1.0  # load_real_images
    converted = images_to_model_range(torch.from_numpy(values))
    assert converted.dtype == torch.float32
    assert torch.equal(converted, from_png) and torch.equal(converted, from_real)
    floats = torch.rand(4, dtype=torch.float64)
    assert torch.equal(images_to_model_range(floats), floats.float())


def test_uint8_storage_trains_to_the_same_numbers_as_float32():
    """uint8 views and real images (kept on the host, converted per batch) give the float32 path's exact history."""
    scenes = [uint8_scene(0), uint8_scene(1)]
    real = torch.randint(0, 256, (5, 3, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator().manual_seed(7))
    float_scenes = [replace(scene, images=scene.images.float() / 255 * 2 - 1) for scene in scenes]
    config = tiny_config(warmup_steps=2, joint_steps=2, cache_warmup_latents=False)

    def perceptual(prediction, target):
        return (prediction - target).abs().mean()

    results = []
    for scene_views, real_images in ((scenes, real), (float_scenes, real.float() / 127.5 - 1.0)):
        results.append(
            train_igae(tiny_autoencoder(), LatentNormalizer(), scene_views, real_images, config, perceptual, log=print)
        )
    strip = [[{k: v for k, v in e.items() if k != "seconds"} for e in result.history] for result in results]
    assert strip[0] == strip[1] and len(strip[0]) == 4 and "ae_real_mse" in strip[0][-1]
    assert torch.equal(results[0].triplanes.planes, results[1].triplanes.planes)
    assert torch.equal(results[0].ae.decoder.conv_out.weight, results[1].ae.decoder.conv_out.weight)
    assert scenes[0].images.dtype == torch.uint8 and real.dtype == torch.uint8  # the inputs are left as given


def test_amp_is_ignored_on_the_cpu():
    plain, _ = run(tiny_config(warmup_steps=1, joint_steps=1))
    amp, logs = run(tiny_config(warmup_steps=1, joint_steps=1, amp=True))
    strip = [[{k: v for k, v in e.items() if k != "seconds"} for e in result.history] for result in (plain, amp)]
    assert strip[0] == strip[1]
    assert any("amp is ignored" in line for line in logs)


def test_scene_views_can_keep_png_views_as_uint8():
    values = np.arange(0, 256, 5, dtype=np.uint8)[:48]  # 48 grey levels
    images = np.stack([np.full((SIZE, SIZE, 3), value, dtype=np.uint8) for value in values]).astype(np.float32) / 255
    scene = SimpleNamespace(
        images=images,
        c2w_opencv=np.stack([np.eye(4, dtype=np.float32)] * len(values)),
        intrinsics_normalized=np.stack([np.eye(3, dtype=np.float32)] * len(values)),
        train_indices=np.arange(len(values)),
    )
    compact, full = SceneViews.from_scene_data(scene, uint8=True), SceneViews.from_scene_data(scene)
    assert compact.images.dtype == torch.uint8 and compact.images[:, 0, 0, 0].tolist() == values.tolist()
    assert full.images.dtype == torch.float32
    assert torch.equal(images_to_model_range(compact.images), full.images)
    scene.images = images * 0.999  # not 8-bit values (e.g. alpha composited): kept as float
    assert SceneViews.from_scene_data(scene, uint8=True).images.dtype == torch.float32


def test_load_real_images_as_uint8_gives_the_float_images_after_conversion(tmp_path):
    from PIL import Image

    from igae.scenes.real_images import load_real_images

    (tmp_path / "train").mkdir()
    rng = np.random.default_rng(0)
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "train" / f"{k}.png")
    compact, full = load_real_images(tmp_path, "train", uint8=True), load_real_images(tmp_path, "train")
    assert compact.dtype == torch.uint8 and compact.shape == (3, 3, 8, 8) and compact.is_contiguous()
    assert torch.equal(images_to_model_range(compact), full)


def test_step_benchmark_runs_at_tiny_size_on_the_cpu(tmp_path):
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "igae_step.py"
    spec = importlib.util.spec_from_file_location("igae_step", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sizes = "--scenes 2 --views-per-scene 3 --real-images 8 --image-size 16 --batch-views 2 --batch-real 1"
    tiny = "--ae-channels 8,8,8,8 --resolution 8 --features 4 --hidden 16 --n-coarse 4 --n-fine 4 --steps 1"
    out = tmp_path / "result.json"
    options = ["--warmup-steps", "1", "--device", "cpu", "--perceptual", "none", "--out", str(out)]
    result = module.main([*sizes.split(), *tiny.split(), *options])
    assert json.loads(out.read_text()) == result
    assert result["s_per_step"] > 0 and result["peak_mem_mb"] > 0 and result["amp"] is False
    assert result["host_data_mb"] == (2 * 3 + 8) * 3 * 16 * 16 / 2**20


def l1_perceptual(prediction, target):
    return (prediction - target).abs().mean()


@pytest.fixture(scope="module")
def seeded_run():
    """4 warm-up and 3 joint steps of the tiny setup with every term on (an L1 stand-in for the perceptual network)."""
    result, _ = run(tiny_config(warmup_steps=4, joint_steps=3), perceptual=l1_perceptual)
    return result


def test_seeded_tiny_run_gives_the_pinned_numbers(seeded_run):
    """Recorded before ``train_igae`` was split into phase and loss functions; any change to the numbers shows here.
    Float32 on the CPU: the thread count and the CPU move the last bits, hence the relative tolerance."""
    warmup = [entry for entry in seeded_run.history if entry["phase"] == "warmup"]
    joint = [entry for entry in seeded_run.history if entry["phase"] == "joint"]
    pinned = pytest.approx
    assert (warmup[0]["latent"], warmup[0]["plane_tv"]) == pinned((0.028204817324876785, 667.879150390625), rel=1e-6)
    assert (warmup[-1]["latent"], warmup[-1]["total"]) == pinned((0.004395081661641598, 0.010838007554411888), rel=1e-6)
    assert {name: joint[0][name] for name in (*LOSS_TERMS, "total")} == pinned(
        {
            "latent": 0.0025340034626424313,
            "rgb": 0.9470457434654236,
            "ae_synth": 0.9581353068351746,
            "ae_real_mse": 0.4533211290836334,
            "ae_real_perceptual": 0.5602341294288635,
            "real_latent_tv": 3.8289031982421875,
            "plane_tv": 640.0214233398438,
            "total": 1.1603682041168213,
        },
        rel=1e-6,
    )
    assert joint[-1]["total"] == pinned(1.1365190744400024, rel=1e-6)
    assert seeded_run.triplanes.planes.double().sum().item() == pinned(76.49512894148938, rel=1e-6)


def test_joint_total_is_the_papers_weighted_sum_of_its_named_terms(seeded_run):
    """Joint: 1·L_latent + 1·L_RGB + 0.1·L_ae^synth + 0.1·MSE_real + 0.01·perceptual_real + 1e-5·TV(z_real)
    + 1e-4·TV(planes), named in that order; warm-up: L_latent + 1e-5·TV(planes)."""
    paper_weights = {
        "latent": 1.0,
        "rgb": 1.0,
        "ae_synth": 0.1,
        "ae_real_mse": 0.1,
        "ae_real_perceptual": 0.01,
        "real_latent_tv": 1e-5,
        "plane_tv": 1e-4,
    }
    for entry in seeded_run.history:
        if entry["phase"] == "joint":
            assert [key for key in entry if key in paper_weights] == list(LOSS_TERMS) == list(paper_weights)
            assert entry["total"] == pytest.approx(sum(w * entry[name] for name, w in paper_weights.items()), rel=1e-6)
        else:
            assert entry["total"] == pytest.approx(entry["latent"] + 1e-5 * entry["plane_tv"], rel=1e-6)


def test_switched_off_terms_are_neither_computed_nor_added(monkeypatch):
    """Without L_latent and L_RGB no view is rendered and only the AE reconstructions are decoded; a switched-off
    perceptual term never calls its network, even when one is given."""
    import igae.ae.igae_training as training

    rendered, decoded, perceptual_calls = [], [], []
    render, decode = training.render_latent_images, training.decode
    monkeypatch.setattr(training, "render_latent_images", lambda *a, **k: rendered.append(len(a[2])) or render(*a, **k))
    monkeypatch.setattr(training, "decode", lambda ae, z: decoded.append(len(z)) or decode(ae, z))

    def perceptual(prediction, target):
        perceptual_calls.append(len(prediction))
        return l1_perceptual(prediction, target)

    loss = IGAELossConfig(latent=False, rgb=False, ae_real_perceptual=False)
    result, _ = run(tiny_config(warmup_steps=0, joint_steps=1, loss=loss), perceptual=perceptual)
    entry = result.history[0]
    assert [key for key in entry if key in LOSS_TERMS] == ["ae_synth", "ae_real_mse", "real_latent_tv", "plane_tv"]
    expected = 0.1 * entry["ae_synth"] + 0.1 * entry["ae_real_mse"] + 1e-5 * entry["real_latent_tv"]
    assert entry["total"] == pytest.approx(expected + 1e-4 * entry["plane_tv"], rel=1e-6)
    assert rendered == [] and perceptual_calls == []
    assert decoded == [4 + 2]  # the 4 synthetic views and the 2 real images, once


CURVE_KEYS = {f"{family}_psnr_{split}" for family in ("latent", "decoded", "ae") for split in ("train", "heldout")} | {
    "ae_psnr_real"
}


def test_curves_have_their_points_finite_and_leave_the_training_unchanged():
    config = tiny_config(warmup_steps=4, joint_steps=3, curve_points=2, curve_train_views=3)
    with_curves, logs = run(config, curve_data=curve_data())
    without, _ = run(config)
    # points after 0, 2, 4 warm-up steps and 0, 2 (round(1.5)), 3 joint steps
    assert [(p["phase"], p["phase_step"]) for p in with_curves.curves] == [
        ("warmup", 0), ("warmup", 2), ("warmup", 4), ("joint", 0), ("joint", 2), ("joint", 3)
    ]  # fmt: skip
    assert [p["step"] for p in with_curves.curves] == [0, 2, 4, 4, 6, 7]
    for point in with_curves.curves:
        assert set(point) == CURVE_KEYS | {"phase", "phase_step", "step", "train_seconds"}
        assert all(math.isfinite(point[key]) and 0 < point[key] < 100 for key in CURVE_KEYS), point
    # the warm-up fits the planes to the latents; the AE is frozen then, so its own reconstruction cannot move
    warmup = [p for p in with_curves.curves if p["phase"] == "warmup"]
    assert warmup[-1]["latent_psnr_train"] > warmup[0]["latent_psnr_train"] + 3
    assert len({p["ae_psnr_real"] for p in warmup}) == 1
    assert sum(line.startswith("igae: curve") for line in logs) == 6
    # measured between steps, drawing from no training generator: the same steps and planes as without curves
    strip = [{k: v for k, v in entry.items() if k != "seconds"} for entry in with_curves.history]
    assert strip == [{k: v for k, v in entry.items() if k != "seconds"} for entry in without.history]
    assert torch.equal(with_curves.triplanes.planes, without.triplanes.planes)
    assert without.curves == []


def test_curve_data_must_hold_every_training_scene():
    data = curve_data()
    data.heldout = data.heldout[:1]
    with pytest.raises(ValueError, match="held-out views of 1 scenes, the training 2"):
        run(tiny_config(warmup_steps=1, joint_steps=0), curve_data=data)


@pytest.mark.parametrize("posterior", ["mean", "sample"])
def test_posterior_choice_decides_the_latent_of_the_losses(posterior):
    """One scene of 4 views and batches of 4: the first joint step's L_ae^synth is MSE(D(z), x) over all its views,
    with the AE the warm-up left untouched. With ``posterior: mean`` z is exactly the mean; a sample is not."""
    scene = synthetic_scene(0)
    config = tiny_config(warmup_steps=2, joint_steps=1, batch_views=4, posterior=posterior)
    result = train_igae(tiny_autoencoder(), LatentNormalizer(), [scene], None, config, log=lambda _: None)
    first_joint = next(entry for entry in result.history if entry["phase"] == "joint")
    with torch.no_grad():
        ae = tiny_autoencoder()
        expected = torch.nn.functional.mse_loss(decode(ae, encode(ae, scene.images)), scene.images).item()
    if posterior == "mean":
        assert first_joint["ae_synth"] == pytest.approx(expected, rel=1e-5)
    else:
        assert abs(first_joint["ae_synth"] - expected) > 1e-3 * expected


def test_unknown_posterior_is_refused():
    with pytest.raises(ValueError, match="posterior must be 'sample' or 'mean'"):
        run(tiny_config(warmup_steps=1, joint_steps=0, posterior="mode"))
