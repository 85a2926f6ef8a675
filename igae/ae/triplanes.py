"""Latent Tri-Planes, their shared decoder MLP and a volume renderer, written fresh for igae-bench.

The scene representation of IG-AE training (docs/paper.md#tri-planes): one set of three axis-aligned feature planes
per synthetic scene, a small MLP shared by all scenes that maps the summed plane features to a density and C latent
channels, and a two-pass (stratified + importance) ray marcher that composites the samples over a latent background
colour.

Conventions:
- cameras are OpenCV (x right, y down, z forward), ``c2w`` maps camera to world; intrinsics are normalised by the
  image size (fx/W, fy/H, cx/W, cy/H), so one camera renders at any resolution;
- the scene occupies the cube [-1, 1]^3; features outside it are zero (zero padding of ``grid_sample``);
- a ray's rendering is in [0, 1] per channel (up to the ±0.001 margin of the colour activation); IG-AE maps it to
  the normalised latent range [-1, 1] with ``2 * x - 1``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from igae.ae.training_configs import LatentTriPlaneConfig, TriPlaneRenderConfig

COLOUR_PADDING = 0.001
"""Mip-NeRF's colour activation: sigmoid(x) * (1 + 2 * pad) - pad, so the extremes 0 and 1 are reachable."""
DENSITY_SHIFT = 1.0
"""density = softplus(raw - shift): a freshly initialised MLP starts almost transparent."""
RESAMPLE_PADDING = 0.01
"""Added to the (blurred) coarse weights before importance sampling, so every interval keeps some samples."""
PLANE_AXES = {"xy-xz-yz": ((0, 1), (0, 2), (1, 2)), "xy-xz-zx": ((0, 1), (0, 2), (2, 0))}
"""The (u, v) world axes each plane is sampled at (u the plane's columns, v its rows), by name. ``xy-xz-yz``: three
distinct planes (the paper's description; ours). ``xy-xz-zx``: the official code's, EG3D's ``generate_planes`` /
``project_onto_planes``, whose third plane reads (z, x), so that two planes span x and z and none spans (y, z)
(docs/paper.md#deviations)."""


def camera_rays(
    c2w_opencv: torch.Tensor, intrinsics_normalized: torch.Tensor, resolution: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through the pixel centres of a ``resolution`` x ``resolution`` image of each camera.

    Args:
        c2w_opencv: (B, 4, 4) camera-to-world matrices, OpenCV convention.
        intrinsics_normalized: (B, 3, 3) intrinsics divided by the image size (fx/W, fy/H, cx/W, cy/H).
        resolution: pixels per side of the rendering; pixel (row, col) has its centre at ((col+0.5)/R, (row+0.5)/R)
            in normalised image coordinates.

    Returns:
        origins, directions: (B, R*R, 3) each, row-major (ray k = row * R + col), directions of unit norm.
    """
    if c2w_opencv.ndim != 3 or c2w_opencv.shape[-2:] not in ((4, 4), (3, 4)):
        raise ValueError(f"camera_rays: c2w_opencv must be (B, 4, 4), got {tuple(c2w_opencv.shape)}")
    if intrinsics_normalized.shape != (c2w_opencv.shape[0], 3, 3):
        raise ValueError(
            f"camera_rays: intrinsics_normalized must be (B, 3, 3) with B = {c2w_opencv.shape[0]} as c2w_opencv, "
            f"got {tuple(intrinsics_normalized.shape)}"
        )
    if resolution < 1:
        raise ValueError(f"camera_rays: resolution must be a positive number of pixels, got {resolution}")
    device, dtype = c2w_opencv.device, c2w_opencv.dtype
    centres = (torch.arange(resolution, device=device, dtype=dtype) + 0.5) / resolution  # (R,)
    v, u = torch.meshgrid(centres, centres, indexing="ij")  # (R, R) each: v follows rows, u follows columns
    pixels = torch.stack([u.reshape(-1), v.reshape(-1), torch.ones_like(u).reshape(-1)], dim=-1)  # (R*R, 3)
    intrinsics_inverse = torch.linalg.inv(intrinsics_normalized.to(dtype))  # (B, 3, 3)
    directions_camera = pixels @ intrinsics_inverse.transpose(1, 2)  # (B, R*R, 3), z = 1
    rotation = c2w_opencv[:, :3, :3]  # (B, 3, 3)
    directions = F.normalize(directions_camera @ rotation.transpose(1, 2), dim=-1)  # (B, R*R, 3)
    origins = c2w_opencv[:, None, :3, 3].expand_as(directions)  # (B, R*R, 3)
    return origins, directions


class TriPlanes(nn.Module):
    """Three axis-aligned feature planes per scene (by default xy, xz, yz; see :data:`PLANE_AXES`); the scene
    occupies [-1, 1]^3."""

    def __init__(
        self,
        n_scenes: int,
        resolution: int = 64,
        features: int = 32,
        box_warp: float = 2.0,
        generator: torch.Generator | None = None,
        plane_axes: str = "xy-xz-yz",
    ):
        super().__init__()
        if n_scenes < 1 or resolution < 2 or features < 1:
            raise ValueError(
                f"TriPlanes: need n_scenes >= 1, resolution >= 2 and features >= 1, "
                f"got {n_scenes}, {resolution}, {features}"
            )
        if plane_axes not in PLANE_AXES:
            raise ValueError(f"TriPlanes: plane_axes must be one of {sorted(PLANE_AXES)}, got {plane_axes!r}")
        self.n_scenes, self.resolution, self.features, self.box_warp = n_scenes, resolution, features, box_warp
        self.plane_axes = plane_axes
        planes = torch.randn(n_scenes, 3, features, resolution, resolution, generator=generator)
        self.planes = nn.Parameter(planes)  # (N, 3, F, K, K); plane i is sampled at PLANE_AXES[plane_axes][i]

    def sample(self, scene_indices: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Summed bilinear features of ``points`` (B, P, 3) in the planes of ``scene_indices`` (B,): (B, P, F)."""
        if points.ndim != 3 or points.shape[-1] != 3 or scene_indices.shape != points.shape[:1]:
            raise ValueError(
                f"TriPlanes.sample: need scene_indices (B,) and points (B, P, 3), "
                f"got {tuple(scene_indices.shape)} and {tuple(points.shape)}"
            )
        batch, n_points = points.shape[:2]
        planes = self.planes[scene_indices]  # (B, 3, F, K, K)
        coords = points * (2.0 / self.box_warp)  # (B, P, 3), the box maps to [-1, 1]
        # grid_sample reads (u, v) = (column, row): u spans the plane's first axis, v its second.
        grid = torch.stack([coords[..., [u, v]] for u, v in PLANE_AXES[self.plane_axes]], dim=1)  # (B, 3, P, 2)
        sampled = F.grid_sample(
            planes.reshape(batch * 3, self.features, self.resolution, self.resolution),
            grid.reshape(batch * 3, 1, n_points, 2).to(planes.dtype),
            mode="bilinear",
            padding_mode="zeros",
            align_corners=False,
        )  # (B*3, F, 1, P)
        return sampled.reshape(batch, 3, self.features, n_points).sum(dim=1).transpose(1, 2)  # (B, P, F)

    def tv_loss(self, scene_indices: torch.Tensor | None = None) -> torch.Tensor:
        """Squared total variation of the planes, averaged over scenes.

        Per scene: (sum ||Δ_rows||² + sum ||Δ_cols||²) / (K + K) over its 3 planes and F channels, the official
        ``compute_tv(planes, p=2, q=2)`` of one scene (docs/paper.md#tri-planes). The official code sums this over
        the views of a batch; the caller multiplies by the batch size to get that. ``scene_indices`` (B,) selects (and
        may repeat) scenes; None means all scenes.
        """
        planes = self.planes if scene_indices is None else self.planes[scene_indices]  # (S, 3, F, K, K)
        rows = (planes[..., 1:, :] - planes[..., :-1, :]).square().sum()
        cols = (planes[..., :, 1:] - planes[..., :, :-1]).square().sum()
        return (rows + cols) / (planes.shape[-2] + planes.shape[-1]) / planes.shape[0]


class TriPlaneDecoder(nn.Module):
    """The MLP shared by all scenes: summed plane features (..., F) -> density (..., 1) and colour (..., C).

    Linear(F -> hidden) -> Softplus -> Linear(hidden -> 1 + C). View-independent (no positional encoding and no view
    direction). density = softplus(raw - 1); colour = sigmoid(raw) * 1.002 - 0.001.
    """

    def __init__(
        self, features: int = 32, out_channels: int = 16, hidden: int = 64, generator: torch.Generator | None = None
    ):
        super().__init__()
        self.out_channels = out_channels
        self.net = nn.Sequential(nn.Linear(features, hidden), nn.Softplus(), nn.Linear(hidden, 1 + out_channels))
        if generator is not None:  # PyTorch's default Linear init, drawn from the given generator
            with torch.no_grad():
                for layer in (self.net[0], self.net[2]):
                    bound = 1.0 / math.sqrt(layer.in_features)
                    layer.weight.uniform_(-bound, bound, generator=generator)
                    layer.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw = self.net(features)  # (..., 1 + C)
        density = F.softplus(raw[..., :1] - DENSITY_SHIFT)  # (..., 1)
        colour = torch.sigmoid(raw[..., 1:]) * (1 + 2 * COLOUR_PADDING) - COLOUR_PADDING  # (..., C)
        return density, colour


def build_triplanes(
    config: LatentTriPlaneConfig,
    n_scenes: int,
    latent_channels: int,
    generator: torch.Generator | None = None,
    plane_axes: str = "xy-xz-yz",
) -> tuple[TriPlanes, TriPlaneDecoder]:
    """Fresh Tri-Planes of ``config`` for ``n_scenes`` scenes (sampled at ``plane_axes``, :data:`PLANE_AXES`) and a
    shared decoder to ``latent_channels`` channels (on CPU)."""
    triplanes = TriPlanes(n_scenes, config.resolution, config.features, generator=generator, plane_axes=plane_axes)
    decoder = TriPlaneDecoder(config.features, latent_channels, config.hidden, generator=generator)
    return triplanes, decoder


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """U[0, 1) samples on ``like``'s device, drawn from ``generator`` wherever that generator lives."""
    device = generator.device if generator is not None else like.device
    return torch.rand(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def _composite(
    t: torch.Tensor, density: torch.Tensor, colour: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mid-point alpha compositing of S sorted samples per ray.

    Args:
        t: (..., S) sample distances, sorted; density: (..., S, 1); colour: (..., S, C).

    Returns:
        weights (..., S-1) of the S-1 intervals, their mid distances (..., S-1) and the composited colour (..., C).
    """
    deltas = t[..., 1:] - t[..., :-1]  # (..., S-1)
    t_mid = 0.5 * (t[..., 1:] + t[..., :-1])  # (..., S-1)
    density_mid = 0.5 * (density[..., 1:, 0] + density[..., :-1, 0])  # (..., S-1)
    colour_mid = 0.5 * (colour[..., 1:, :] + colour[..., :-1, :])  # (..., S-1, C)
    optical_depth = density_mid * deltas  # (..., S-1)
    alpha = 1.0 - torch.exp(-optical_depth)
    # transmittance before each interval: exp(-sum of the optical depths of the intervals in front of it)
    transmittance = torch.exp(-(torch.cumsum(optical_depth, dim=-1) - optical_depth))
    weights = alpha * transmittance  # (..., S-1)
    composited = (weights.unsqueeze(-1) * colour_mid).sum(dim=-2)  # (..., C)
    return weights, t_mid, composited


@torch.no_grad()
def _importance_samples(
    t_coarse: torch.Tensor, weights: torch.Tensor, n_samples: int, jitter: bool, generator: torch.Generator | None
) -> torch.Tensor:
    """Inverse-CDF samples (..., n_samples) from the piecewise-constant pdf of ``weights`` (..., S-1) over the
    intervals between the coarse samples ``t_coarse`` (..., S). No gradient flows through the returned distances."""
    # blur the weights (max over neighbours, then mean) and pad them, so that thin surfaces keep a neighbourhood
    padded = torch.cat([weights[..., :1], weights, weights[..., -1:]], dim=-1)  # (..., S+1)
    blurred = torch.maximum(padded[..., :-1], padded[..., 1:])  # (..., S)
    blurred = 0.5 * (blurred[..., :-1] + blurred[..., 1:]) + RESAMPLE_PADDING  # (..., S-1)
    pdf = blurred / blurred.sum(dim=-1, keepdim=True)
    cdf = torch.cumsum(pdf, dim=-1).clamp(max=1.0)
    cdf = torch.cat([torch.zeros_like(cdf[..., :1]), cdf], dim=-1).contiguous()  # (..., S), aligned with t_coarse

    shape = (*cdf.shape[:-1], n_samples)
    offsets = _uniform(shape, generator, cdf) if jitter else torch.full(shape, 0.5, device=cdf.device, dtype=cdf.dtype)
    u = (torch.arange(n_samples, device=cdf.device, dtype=cdf.dtype) + offsets) / n_samples  # (..., n), stratified
    upper = torch.searchsorted(cdf, u.contiguous(), right=True).clamp(1, cdf.shape[-1] - 1)  # (..., n)
    lower = upper - 1
    cdf_lower, cdf_upper = cdf.gather(-1, lower), cdf.gather(-1, upper)
    t_lower, t_upper = t_coarse.gather(-1, lower), t_coarse.gather(-1, upper)
    span = cdf_upper - cdf_lower
    fraction = ((u - cdf_lower) / torch.where(span > 1e-8, span, torch.ones_like(span))).clamp(0.0, 1.0)
    return t_lower + fraction * (t_upper - t_lower)


def _render_chunk(
    triplanes: TriPlanes,
    decoder: nn.Module,
    scene_indices: torch.Tensor,
    origins: torch.Tensor,
    directions: torch.Tensor,
    background: torch.Tensor,
    config: TriPlaneRenderConfig,
    jitter: bool,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    batch, n_rays = origins.shape[:2]

    def query(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # t: (B, R, S)
        points = origins.unsqueeze(2) + t.unsqueeze(-1) * directions.unsqueeze(2)  # (B, R, S, 3)
        features = triplanes.sample(scene_indices, points.reshape(batch, -1, 3))  # (B, R*S, F)
        density, colour = decoder(features)  # (B, R*S, 1), (B, R*S, C)
        return density.reshape(*t.shape, 1), colour.reshape(*t.shape, -1)

    edges = torch.linspace(config.near, config.far, config.n_coarse + 1, device=origins.device, dtype=origins.dtype)
    shape = (batch, n_rays, config.n_coarse)
    offsets = _uniform(shape, generator, origins) if jitter else torch.full_like(origins[..., :1].expand(shape), 0.5)
    t = edges[:-1] + (edges[1:] - edges[:-1]) * offsets  # (B, R, n_coarse), sorted
    density, colour = query(t)  # (B, R, n_coarse, 1), (B, R, n_coarse, C)

    if config.n_fine > 0:
        coarse_weights, _, _ = _composite(t, density.detach(), colour.detach())  # (B, R, n_coarse-1)
        t_fine = _importance_samples(t, coarse_weights, config.n_fine, jitter, generator)  # (B, R, n_fine)
        density_fine, colour_fine = query(t_fine)
        t, order = torch.sort(torch.cat([t, t_fine], dim=-1), dim=-1)  # (B, R, S), S = n_coarse + n_fine
        density = torch.cat([density, density_fine], dim=2).gather(2, order.unsqueeze(-1))  # (B, R, S, 1)
        colour = torch.cat([colour, colour_fine], dim=2)  # (B, R, S, C)
        colour = colour.gather(2, order.unsqueeze(-1).expand(-1, -1, -1, colour.shape[-1]))

    weights, t_mid, composited = _composite(t, density, colour)  # (B, R, S-1), (B, R, S-1), (B, R, C)
    opacity = weights.sum(dim=-1)  # (B, R)
    colours = composited + (1.0 - opacity).unsqueeze(-1) * background  # (B, R, C)
    depth = (weights * t_mid).sum(dim=-1) + (1.0 - opacity) * config.far  # (B, R): the background sits at `far`
    return colours, depth, opacity


def render_latents(
    triplanes: TriPlanes,
    decoder: nn.Module,
    scene_indices: torch.Tensor,
    origins: torch.Tensor,
    directions: torch.Tensor,
    background: torch.Tensor,
    config: TriPlaneRenderConfig,
    generator: torch.Generator | None = None,
    jitter: bool | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Volume-render the latent Tri-Planes of ``scene_indices`` along the given rays.

    Args:
        triplanes, decoder: the scene representation; ``decoder(features (..., F)) -> (density (..., 1),
            colour (..., C))``.
        scene_indices: (B,) scene of each batch row (rows may share a scene).
        origins, directions: (B, R, 3) rays, directions of unit norm (see :func:`camera_rays`).
        background: (C,) colour in [0, 1] seen where the rays stay transparent.
        config: sample counts and near/far.
        generator: source of the jitter (stratified offsets and importance-sampling offsets).
        jitter: random offsets (training) or bin midpoints and deterministic inverse-CDF positions (evaluation);
            None follows ``decoder.training``.

    Returns:
        colours (B, R, C) in [0, 1] (±0.001), and {'depth': (B, R) expected distance, background at ``far``,
        'opacity': (B, R) accumulated opacity}. Differentiable w.r.t. the planes and the decoder; the importance
        sample positions carry no gradient.
    """
    if origins.ndim != 3 or origins.shape[-1] != 3 or directions.shape != origins.shape:
        raise ValueError(
            f"render_latents: origins and directions must both be (B, R, 3), "
            f"got {tuple(origins.shape)} and {tuple(directions.shape)}"
        )
    if scene_indices.shape != origins.shape[:1]:
        raise ValueError(
            f"render_latents: scene_indices must be (B,) = ({origins.shape[0]},), got {scene_indices.shape}"
        )
    if not 0 < config.near < config.far or config.n_coarse < 2 or config.n_fine < 0:
        raise ValueError(f"render_latents: need 0 < near < far, n_coarse >= 2 and n_fine >= 0, got {config}")
    background = background.to(device=origins.device, dtype=origins.dtype)
    jitter = decoder.training if jitter is None else jitter
    batch, n_rays = origins.shape[:2]
    samples_per_ray = config.n_coarse + config.n_fine
    rays_per_chunk = max(1, config.max_points_per_chunk // (batch * samples_per_ray))
    outputs = [
        _render_chunk(
            triplanes,
            decoder,
            scene_indices,
            origins[:, start : start + rays_per_chunk],
            directions[:, start : start + rays_per_chunk],
            background,
            config,
            jitter,
            generator,
        )
        for start in range(0, n_rays, rays_per_chunk)
    ]
    colours, depth, opacity = (torch.cat(parts, dim=1) for parts in zip(*outputs, strict=True))
    return colours, {"depth": depth, "opacity": opacity}


def render_latent_images(
    triplanes: TriPlanes,
    decoder: nn.Module,
    scene_indices: torch.Tensor,
    c2w_opencv: torch.Tensor,
    intrinsics_normalized: torch.Tensor,
    resolution: int,
    background: torch.Tensor,
    config: TriPlaneRenderConfig,
    generator: torch.Generator | None = None,
    jitter: bool | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Render whole latent images: (B, C, R, R) in [0, 1], plus 'depth' and 'opacity' as (B, R, R)."""
    origins, directions = camera_rays(c2w_opencv, intrinsics_normalized, resolution)  # (B, R*R, 3) each
    colours, extra = render_latents(
        triplanes, decoder, scene_indices, origins, directions, background, config, generator, jitter
    )  # (B, R*R, C)
    images = colours.reshape(-1, resolution, resolution, colours.shape[-1]).permute(0, 3, 1, 2)  # (B, C, R, R)
    return images, {key: value.reshape(-1, resolution, resolution) for key, value in extra.items()}
