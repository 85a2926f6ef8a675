"""Gaussian splatting: the PyTorch rasterizer against a brute-force per-pixel reference, and the splatfacto methods.

The reference composites every pixel the way gsplat's CUDA kernel does (``rasterize_to_pixels_fwd.cu``), written as
plainly as possible: one Gaussian at a time in depth order, over all pixels of the tiles it covers, with the clamp at
0.999, the skip below 1/255 and the stop at transmittance 1e-4; autograd differentiates it.
"""

from __future__ import annotations

import math

import pytest
import torch

from igae.latent_nerf.rasterize import (
    ALPHA_MAX,
    ALPHA_MIN,
    TRANSMITTANCE_MIN,
    backend_for,
    gsplat_cuda_loaded,
    project,
    rasterize,
    viewmat_from_camera_to_world,
)

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
