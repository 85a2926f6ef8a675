"""IG-AE training: the warm-up trains the Tri-Planes on a frozen AE, the joint phase trains everything switched on."""

import math
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL

from igae.autoencoders import LatentNormalizer
from igae.igae_training import IGAELossConfig, IGAETrainingConfig, SceneViews, train_igae
from igae.triplanes import LatentTriPlaneConfig, TriPlaneRenderConfig

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


def run(config: IGAETrainingConfig, perceptual=None, real=True):
    ae = tiny_autoencoder()
    scenes = [synthetic_scene(0), synthetic_scene(1)]
    real_images = torch.rand(5, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(7)) * 2 - 1 if real else None
    logs = []
    result = train_igae(ae, LatentNormalizer(), scenes, real_images, config, perceptual=perceptual, log=logs.append)
    return result, logs


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
