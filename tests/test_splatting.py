"""Gaussian splatting: the PyTorch rasterizer against a brute-force per-pixel reference, and the splatfacto methods.

The reference composites every pixel the way gsplat's CUDA kernel does (``rasterize_to_pixels_fwd.cu``), written as
plainly as possible: one Gaussian at a time in depth order, over all pixels of the tiles it covers, with the clamp at
0.999, the skip below 1/255 and the stop at transmittance 1e-4; autograd differentiates it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from igae.ae.autoencoder import AutoencoderCard, latent_background, load_with_card, save_autoencoder, small_autoencoder
from igae.ae.latents import encode_scene
from igae.cli import main
from igae.nerf.components.rasterize import (
    ALPHA_MAX,
    ALPHA_MIN,
    TRANSMITTANCE_MIN,
    backend_for,
    gsplat_cuda_loaded,
    project,
    rasterize,
    viewmat_from_camera_to_world,
)
from igae.nerf.fit import fit
from igae.nerf.method_configs import TwoStageSchedule
from igae.nerf.models.splatfacto import GaussianCountError

NEAR, FAR = 0.2, 3.0


def random_gaussians(n: int, channels: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """``n`` Gaussians in front of a camera at the origin looking down +z, 1/10 of them behind it, 1/10 beyond the
    far plane, a third nearly opaque (so that rays stop), all overlapping on a small image; parameters as leaves."""
    generator = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
    means = torch.cat([(rand(n, 2) - 0.5) * 1.6, 0.5 + 2.0 * rand(n, 1)], dim=1)
    means[: n // 10, 2] = -0.1 - rand(n // 10)  # behind the camera
    means[n // 10 : n // 5, 2] = FAR + 0.5 * rand(n // 10)  # beyond the far plane
    opacity_logits = torch.randn(n, generator=generator)
    opacity_logits[: n // 3] = 8.0  # sigmoid(8) = 0.9997: alpha clamps at 0.999 near the centre, rays stop
    return {
        "means": means,
        "quats": torch.randn(n, 4, generator=generator),
        "log_scales": math.log(0.03) + rand(n, 3) * 2.0,
        "opacity_logits": opacity_logits,
        "colors": rand(n, channels),
    }


def camera(width: int, height: int, focal: float = 14.0) -> tuple[torch.Tensor, torch.Tensor]:
    viewmat = torch.eye(4)[None]  # OpenCV camera at the origin, looking down +z
    K = torch.tensor([[[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]]])
    return viewmat, K


def reference(means2d, conics, opacities, colors, radii, depths, width, height, tile_size):
    """Per pixel, every visible Gaussian front to back (gsplat's kernel). ``means2d`` (P, N, 2): one copy per pixel,
    so that autograd gives per-pixel gradients. Returns (H, W, D) colour, (H, W, 1) alpha, and counts of the rules
    that fired (clamped, skipped, stopped fragments)."""
    n_pixels = width * height
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    px, py = xs.reshape(-1) + 0.5, ys.reshape(-1) + 0.5
    pixel_tile_x, pixel_tile_y = xs.reshape(-1) // tile_size, ys.reshape(-1) // tile_size
    tiles_x, tiles_y = math.ceil(width / tile_size), math.ceil(height / tile_size)
    transmittance = torch.ones(n_pixels)
    image = torch.zeros(n_pixels, colors.shape[-1])
    done = torch.zeros(n_pixels, dtype=torch.bool)
    fired = {"clamped": 0, "skipped": 0, "stopped": 0}
    visible = [g for g in range(radii.shape[1]) if radii[0, g] > 0]
    for g in sorted(visible, key=lambda g: (depths[0, g].item(), g)):
        centre = means2d[0, g].detach()
        r = radii[0, g].item()  # gsplat's tile range: [floor((m - r) / 16), ceil((m + r) / 16)) clamped
        x_lo = min(max(math.floor(centre[0].item() / tile_size - r / tile_size), 0), tiles_x)
        x_hi = min(max(math.ceil(centre[0].item() / tile_size + r / tile_size), 0), tiles_x)
        y_lo = min(max(math.floor(centre[1].item() / tile_size - r / tile_size), 0), tiles_y)
        y_hi = min(max(math.ceil(centre[1].item() / tile_size + r / tile_size), 0), tiles_y)
        in_tiles = (pixel_tile_x >= x_lo) & (pixel_tile_x < x_hi) & (pixel_tile_y >= y_lo) & (pixel_tile_y < y_hi)
        dx, dy = means2d[:, g, 0] - px, means2d[:, g, 1] - py  # (P,) per pixel
        a, b, c = conics[0, g]
        sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
        raw = opacities[g] * torch.exp(-sigma)
        alpha = torch.clamp_max(raw, ALPHA_MAX)
        drawn = in_tiles & ~done & (sigma >= 0) & (alpha >= ALPHA_MIN)
        next_t = transmittance * (1 - alpha)
        stop = drawn & (next_t <= TRANSMITTANCE_MIN)
        fired["skipped"] += int((in_tiles & ~done & (alpha < ALPHA_MIN)).sum())
        fired["stopped"] += int(stop.sum())
        done = done | stop
        drawn = drawn & ~stop
        fired["clamped"] += int((drawn & (raw > ALPHA_MAX)).sum())
        image = image + torch.where(drawn, alpha * transmittance, 0.0)[:, None] * colors[g]
        transmittance = torch.where(drawn, next_t, transmittance)
    alpha_image = 1 - transmittance
    return image.view(height, width, -1), alpha_image.view(height, width, 1), fired


def render_both(params, width, height, tile_size=16):
    """The torch backend's render and the reference's, their gradients w.r.t. every parameter and means2d."""
    viewmat, K = camera(width, height)
    weights = torch.rand(height, width, params["colors"].shape[1] + 1, generator=torch.Generator().manual_seed(1))

    def activated(p):
        return p["means"], p["quats"], torch.exp(p["log_scales"]), torch.sigmoid(p["opacity_logits"]), p["colors"]

    def loss_of(image, alpha):
        return (torch.cat([image, alpha], -1) * weights).sum()

    ours = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    render, alpha, info = rasterize(*activated(ours), viewmat, K, width, height, NEAR, FAR, tile_size=tile_size,
                                    absgrad=True, backend="torch")  # fmt: skip
    info["means2d"].retain_grad()
    loss_of(render[0], alpha[0]).backward()

    theirs = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    means, quats, scales, opacities, colors = activated(theirs)
    radii, means2d, depths, conics, _ = project(means, quats, scales, viewmat, K, width, height, NEAR, FAR, 0.3, False)
    per_pixel = torch.zeros(width * height, *means2d.shape[1:], requires_grad=True)  # (P, N, 2)
    ref_render, ref_alpha, fired = reference(means2d + per_pixel, conics, opacities, colors, radii, depths, width,
                                             height, tile_size)  # fmt: skip
    loss_of(ref_render, ref_alpha).backward()
    return (
        {
            "render": (render[0], ref_render),
            "alpha": (alpha[0], ref_alpha),
            **{f"d{name}": (ours[name].grad, theirs[name].grad) for name in params},
            "dmeans2d": (info["means2d"].grad[0], per_pixel.grad.sum(0)),
            "absgrad": (info["means2d"].absgrad[0], per_pixel.grad.abs().sum(0)),
        },
        fired,
        radii,
    )


@pytest.mark.parametrize("channels", [3, 4, 16])
@pytest.mark.parametrize("size", [(16, 16), (40, 24)], ids=["16x16_one_tile", "40x24_six_tiles"])
def test_torch_rasterizer_matches_the_per_pixel_reference(channels, size):
    """300 Gaussians, C = 3, 4 and 16 channels: images, alphas and the gradients of every parameter and of the
    screen-space means (plain and absolute, what densification reads) agree with the reference."""
    results, fired, radii = render_both(random_gaussians(300, channels), *size)
    n = 300
    assert (radii[0, : n // 10] == 0).all() and (radii[0, n // 10 : n // 5] == 0).all()  # behind / beyond: culled
    assert all(count > 0 for count in fired.values()), f"a rule never fired, so it is not tested: {fired}"
    for name, (ours, ref) in results.items():
        scale = ref.abs().max().clamp(min=1e-6)
        error = (ours - ref).abs().max() / scale
        assert error < 2e-4, f"{name}: max |ours - reference| = {error:.2e} of max |reference| = {scale:.3g}"
    assert results["dmeans"][1][n // 5 :].abs().sum() > 0  # the visible Gaussians get gradients


def test_backend_is_gsplat_on_cuda_only_and_refuses_cpu_tensors():
    assert backend_for("cpu") == "torch" and backend_for(torch.device("cuda", 0)) == "gsplat-cuda"
    params = random_gaussians(10, 3)
    viewmat, K = camera(16, 16)
    args = (params["means"], params["quats"], params["log_scales"].exp(), params["opacity_logits"].sigmoid(),
            params["colors"], viewmat, K, 16, 16)  # fmt: skip
    with pytest.raises(RuntimeError, match="needs CUDA tensors"):
        rasterize(*args, backend="gsplat-cuda")
    with pytest.raises(ValueError, match="unknown rasterizer backend"):
        rasterize(*args, backend="cuda")
    assert not gsplat_cuda_loaded()


def test_viewmat_puts_a_point_in_front_of_a_nerfstudio_camera_at_its_pixel():
    """A nerfstudio (OpenGL) camera at (0, 0, 2) looking down -z sees the world point (0.1, 0, 0) right of centre,
    at depth 2: pixel x = cx + f * 0.1 / 2."""
    camera_to_world = torch.tensor([[[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 2]]])
    viewmat = viewmat_from_camera_to_world(camera_to_world)
    point = viewmat[0] @ torch.tensor([0.1, 0.0, 0.0, 1.0])
    assert torch.allclose(point[:3], torch.tensor([0.1, 0.0, 2.0]))
    K = torch.tensor([[20.0, 0, 8], [0, 20.0, 8], [0, 0, 1]])
    pixel = K @ point[:3] / point[2]
    assert torch.allclose(pixel[:2], torch.tensor([9.0, 8.0]))


def test_a_gaussian_draws_nothing_beyond_its_tile_range_as_in_gsplat():
    """An opaque Gaussian at x = 10 px with radius 6 px covers tiles [0, 1) only, though its alpha >= 1/255 ellipse
    reaches the centre of pixel 16 (sigma 5.47 < log 255): gsplat never draws it there, and neither does the torch
    rasterizer (nor the reference)."""
    width, height, focal = 40, 16, 14.0
    viewmat, K = camera(width, height, focal)
    variance_px = 3.86 - 0.3  # 2D variance before gsplat's 0.3 px^2 blur; radius ceil(3 sqrt(3.86 + 0.1)) = 6
    sigma_world = math.sqrt(variance_px) / focal  # at depth 1
    means = torch.tensor([[(10.0 - width / 2) / focal, (8.5 - height / 2) / focal, 1.0]])
    scales = torch.tensor([[sigma_world, sigma_world, 1e-6]])  # flat in depth: the 2D variance is f^2 sigma^2
    params = (means, torch.tensor([[1.0, 0, 0, 0]]), scales, torch.tensor([0.9997]), torch.ones(1, 1))
    radii, means2d, *_ = project(params[0], params[1], params[2], viewmat, K, width, height, NEAR, FAR, 0.3, False)
    assert radii.item() == 6 and torch.allclose(means2d[0, 0], torch.tensor([10.0, 8.5]), atol=1e-4)
    beyond = 0.9997 * math.exp(-0.5 * 6.5**2 / 3.86)  # what pixel 16 would get without the tile rule
    assert beyond >= ALPHA_MIN
    render, alpha, _ = rasterize(*params, viewmat, K, width, height, NEAR, FAR, backend="torch")
    assert alpha[0, 8, 15, 0] > ALPHA_MIN and alpha[0, 8, 16, 0] == 0.0


TINY_SPLAT = {"num_random": 300, "warmup_length": 0, "refine_every": 2, "reset_alpha_every": 100}
"""300 Gaussians; with 4 training views (pause after an opacity reset: 4 + 2 steps) the strategy refines at step 6."""


@pytest.fixture(scope="module")
def ae16(scene_and_ae):
    """A tiny 16-channel autoencoder (the paper's C) and the scene's latents: (AE folder, latents file)."""
    scene, _, _, root = scene_and_ae
    torch.manual_seed(0)
    ae = small_autoencoder(latent_channels=16, block_out_channels=(8, 8, 8, 8), norm_num_groups=8, image_size=32)
    card = AutoencoderCard("tiny16", "trained", "test", 16, 8, 0.5, [])
    card.latent_background = latent_background(ae, card.normalizer, 32).tolist()
    save_autoencoder(ae, root / "ae16", card)
    ae, card = load_with_card(root / "ae16")
    encode_scene(ae, card, scene, root / "latents16.safetensors")
    return root / "ae16", root / "latents16.safetensors"


def gsplat_build_dirs() -> list[Path]:
    """torch's JIT build folders of gsplat's CUDA extension (what a CUDA import on this machine would create)."""
    root = Path(os.environ.get("TORCH_EXTENSIONS_DIR", Path.home() / ".cache" / "torch_extensions"))
    return sorted(root.glob("*/gsplat_cuda"))


@pytest.mark.parametrize("space, channels", [("latent", 4), ("latent", 16), ("rgb", 3)])
def test_splatfacto_fits_two_plus_two_steps_through_igae_fit(scene_and_ae, ae16, space, channels):
    """`igae fit --method splatfacto`: 2 + 2 steps latent (C = 4 and C = 16) or 4 RGB steps on the CPU, scored like
    every method; the run records the PyTorch rasterizer, and gsplat's CUDA extension is neither imported nor built."""
    scene, ae4, latents4, root = scene_and_ae
    ae_dir, latents = {4: (ae4, latents4), 16: ae16}.get(channels, (None, None))
    run = root / f"splat_{space}_{channels}"
    builds = gsplat_build_dirs()
    latent_args = ["--autoencoder", str(ae_dir), "--latents", str(latents)] if space == "latent" else []
    schedule = {"latent_steps": 2, "align_steps": 2, "lr_factor": 1.0, "check_every": 2}  # a curve point a stage
    assert main(["fit", "--space", space, "--method", "splatfacto", "--scene", str(scene), "--out", str(run),
                 *latent_args, "--schedule", json.dumps(schedule), "--model", json.dumps(TINY_SPLAT),
                 "--device", "cpu"]) == 0  # fmt: skip
    metrics = json.loads((run / "metrics.json").read_text())
    timing = json.loads((run / "timing.json").read_text())
    assert metrics["method"] == "splatfacto" and metrics["rasterizer"] == {"backend": "torch", "gsplat": "1.4.0"}
    assert set(timing["stage_seconds"]) == ({"fit", "align"} if space == "latent" else {"fit"})
    assert timing["iterations"] == 4 and math.isfinite(metrics["mean"]["psnr"])
    assert [p["stage"] for p in metrics["curve"]] == (["fit", "align"] if space == "latent" else ["fit", "fit"])
    assert metrics["curve_pixel_stride"] == 1  # splatting renders whole images, RGB included
    state = torch.load(next(run.rglob("*.ckpt")), map_location="cpu", weights_only=False)["pipeline"]
    assert state["_model.gauss_params.features_dc"].shape == (300, channels)
    background = state["_model.background_color"]
    expected = load_with_card(ae_dir)[1].latent_background if space == "latent" else [1.0, 1.0, 1.0]
    assert torch.allclose(background, torch.tensor(expected))  # latent of white / white: no random background
    assert not gsplat_cuda_loaded() and gsplat_build_dirs() == builds


def splat_fit(scene_and_ae, name, schedule, overrides):
    scene, ae_dir, latents, root = scene_and_ae
    return fit("latent", "splatfacto", scene, root / name, TwoStageSchedule(lr_factor=1.0, **schedule),
               autoencoder=ae_dir, latents=latents, model_overrides={**TINY_SPLAT, **overrides},
               labels={"dataset": "d", "scene": scene.name, "autoencoder": "tiny"}, curve=False)  # fmt: skip


def test_densification_changes_the_gaussians_in_stage_1_only(scene_and_ae):
    """The strategy refines at step 6 of an 8-step stage 1 (pruning at least the Gaussians whose opacity fell below
    splatfacto's 0.1), and never in stage 2."""
    result = splat_fit(scene_and_ae, "densify", {"latent_steps": 8, "align_steps": 6}, {})
    counts = result["gaussian_counts"]
    assert [c["step"] for c in counts] == [0, 7, 14]
    assert counts[1]["count"] != 300 and counts[2]["count"] == counts[1]["count"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"cull_alpha_thresh": 0.45}, r"photo_000: no Gaussian left after step 6 "),  # all still at ~0.1
        ({"max_gaussians": 100}, r"photo_000: 300 Gaussians after step 0, more than max_gaussians = 100 "),
    ],
    ids=["collapse", "runaway"],
)
def test_a_gaussian_count_of_zero_or_over_the_cap_stops_the_fit_and_leaves_no_run(scene_and_ae, overrides, message):
    root = scene_and_ae[3]
    name = f"count_{len(overrides)}_{next(iter(overrides))}"
    with pytest.raises(GaussianCountError, match=message):
        splat_fit(scene_and_ae, name, {"latent_steps": 8, "align_steps": 2}, overrides)
    assert not list(root.glob(f"*{name}*"))  # neither the run folder nor its temporary sibling


def test_an_opacity_cull_of_half_or_more_is_refused_before_training(scene_and_ae):
    """gsplat resets opacities to twice the cull threshold: from 0.5 on that is no opacity (a NaN loss at step 1)."""
    with pytest.raises(ValueError, match=r"cull_alpha_thresh = 0.5 must be in \[0, 0.5\)"):
        splat_fit(scene_and_ae, "cull_half", {"latent_steps": 2, "align_steps": 2}, {"cull_alpha_thresh": 0.5})
    assert not list(scene_and_ae[3].glob("*cull_half*"))


def test_a_view_without_gaussians_renders_nothing_and_backpropagates_zeros():
    """All Gaussians behind the camera: an empty image, alpha 0, and a backward pass (zero gradients), as gsplat's."""
    params = random_gaussians(20, 4)
    params["means"][:, 2] = -1.0
    leaves = {name: value.requires_grad_(True) for name, value in params.items()}
    viewmat, K = camera(16, 16)
    render, alpha, _ = rasterize(leaves["means"], leaves["quats"], leaves["log_scales"].exp(),
                                 leaves["opacity_logits"].sigmoid(), leaves["colors"], viewmat, K, 16, 16, NEAR, FAR,
                                 backend="torch")  # fmt: skip
    assert render.abs().sum() == 0 and alpha.abs().sum() == 0
    (render.sum() + alpha.sum()).backward()
    assert leaves["opacity_logits"].grad.abs().sum() == 0


def test_latent_splatfacto_s_ns_train_config_parses_and_prints_its_help(capsys):
    """What `ns-train latent-splatfacto --help` parses (tyro over the entry point's trainer config), short of the
    installed entry point: every field of the latent splatfacto config, ours included, is a CLI option."""
    import tyro

    from igae.nerf.method_configs import latent_splatfacto

    assert latent_splatfacto.config.method_name == "latent-splatfacto"
    with pytest.raises(SystemExit) as done:
        tyro.cli(type(latent_splatfacto.config), default=latent_splatfacto.config, args=["--help"])
    assert done.value.code == 0
    help_text = capsys.readouterr().out
    for option in ("--pipeline.model.max-gaussians", "--pipeline.model.rasterizer", "--pipeline.autoencoder"):
        assert option in help_text
