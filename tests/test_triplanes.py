"""Latent Tri-Planes: camera rays, plane sampling, the volume renderer, the TV regulariser."""

import math

import pytest
import torch
from torch import nn

from igae.ae.training_configs import TriPlaneRenderConfig
from igae.ae.triplanes import TriPlaneDecoder, TriPlanes, camera_rays, render_latent_images, render_latents


def rotation_about_axis(axis: torch.Tensor, angle: float) -> torch.Tensor:
    """Rodrigues' formula: (3, 3) rotation by ``angle`` radians about the unit vector ``axis``."""
    x, y, z = (axis / axis.norm()).tolist()
    cross = torch.tensor([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return torch.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * cross @ cross


def camera(rotation: torch.Tensor, position: torch.Tensor, fx=1.1, fy=0.9, cx=0.45, cy=0.55):
    c2w = torch.eye(4)
    c2w[:3, :3], c2w[:3, 3] = rotation, position
    intrinsics = torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    return c2w[None], intrinsics[None]  # (1, 4, 4), (1, 3, 3)


def test_centre_ray_points_along_the_camera_z_axis():
    rotation = rotation_about_axis(torch.tensor([0.3, -1.0, 0.5]), 1.1)
    c2w, intrinsics = camera(rotation, torch.tensor([0.2, -0.4, 1.3]), cx=0.5, cy=0.5)
    resolution = 5  # odd: pixel (2, 2) has its centre at (0.5, 0.5)
    origins, directions = camera_rays(c2w, intrinsics, resolution)
    centre = 2 * resolution + 2
    torch.testing.assert_close(directions[0, centre], rotation[:, 2], atol=1e-6, rtol=0)
    torch.testing.assert_close(origins[0, centre], c2w[0, :3, 3])
    torch.testing.assert_close(directions.norm(dim=-1), torch.ones(1, resolution**2))


def test_a_point_projected_with_the_intrinsics_lies_on_the_ray_of_its_pixel():
    rotation = rotation_about_axis(torch.tensor([1.0, 0.2, -0.4]), -0.7)
    fx, fy, cx, cy = 1.2, 0.8, 0.4, 0.6
    c2w, intrinsics = camera(rotation, torch.tensor([0.5, 0.1, -1.2]), fx, fy, cx, cy)
    resolution, row, col = 16, 3, 12
    u, v = (col + 0.5) / resolution, (row + 0.5) / resolution  # normalised coordinates of the pixel centre
    point_camera = 1.7 * torch.tensor([(u - cx) / fx, (v - cy) / fy, 1.0])  # projects to (u, v) at depth 1.7
    point_world = rotation @ point_camera + c2w[0, :3, 3]
    origins, directions = camera_rays(c2w, intrinsics, resolution)
    origin, direction = origins[0, row * resolution + col], directions[0, row * resolution + col]
    to_point = point_world - origin
    assert torch.linalg.cross(to_point, direction).norm() < 1e-5
    assert torch.dot(to_point, direction) > 0


def test_render_shapes():
    triplanes, decoder = TriPlanes(3, resolution=8, features=4), TriPlaneDecoder(4, out_channels=5, hidden=8)
    c2w, intrinsics = camera(torch.eye(3), torch.tensor([0.0, 0.0, -1.3]))
    c2w, intrinsics = c2w.expand(2, 4, 4), intrinsics.expand(2, 3, 3)
    config = TriPlaneRenderConfig(n_coarse=6, n_fine=5)
    images, extra = render_latent_images(
        triplanes, decoder, torch.tensor([0, 2]), c2w, intrinsics, 4, torch.full((5,), 0.5), config
    )
    assert images.shape == (2, 5, 4, 4)
    assert extra["depth"].shape == extra["opacity"].shape == (2, 4, 4)
    assert images.min() >= -0.001 and images.max() <= 1.001


def test_gradients_reach_the_planes_and_the_decoder():
    generator = torch.Generator().manual_seed(0)
    triplanes = TriPlanes(2, resolution=8, features=4, generator=generator)
    decoder = TriPlaneDecoder(4, out_channels=3, hidden=8, generator=generator)
    c2w, intrinsics = camera(torch.eye(3), torch.tensor([0.0, 0.0, -1.3]))
    origins, directions = camera_rays(c2w, intrinsics, 4)
    colours, _ = render_latents(
        triplanes, decoder, torch.tensor([1]), origins, directions, torch.zeros(3),
        TriPlaneRenderConfig(n_coarse=8, n_fine=8), generator=generator, jitter=True,
    )  # fmt: skip
    colours.sum().backward()
    assert triplanes.planes.grad[1].abs().sum() > 0
    assert triplanes.planes.grad[0].abs().sum() == 0  # scene 0 was not rendered
    assert all(parameter.grad.abs().sum() > 0 for parameter in decoder.parameters())


def test_empty_density_renders_the_background_exactly():
    triplanes, decoder = TriPlanes(1, resolution=8, features=4), TriPlaneDecoder(4, out_channels=3, hidden=8)
    with torch.no_grad():
        decoder.net[2].weight.zero_()
        decoder.net[2].bias.fill_(2.0)
        decoder.net[2].bias[0] = -1e4  # density = softplus(-1e4 - 1) = 0
    c2w, intrinsics = camera(torch.eye(3), torch.tensor([0.0, 0.0, -1.3]))
    origins, directions = camera_rays(c2w, intrinsics, 4)
    background = torch.tensor([0.1, 0.7, 0.3])
    colours, extra = render_latents(
        triplanes, decoder, torch.tensor([0]), origins, directions, background, TriPlaneRenderConfig()
    )
    assert torch.equal(colours, background.expand_as(colours))
    assert torch.equal(extra["opacity"], torch.zeros_like(extra["opacity"]))


class SlabDecoder(nn.Module):
    """Density 1000 x feature 0, constant colour 0.25: renders whatever feature 0 outlines as an opaque solid."""

    def forward(self, features):
        return 1000.0 * features[..., :1].clamp(min=0), torch.full_like(features[..., :3], 0.25)


@pytest.mark.parametrize("n_fine", [0, 16])
def test_an_opaque_slab_renders_opaque_at_its_distance(n_fine):
    resolution = 16
    triplanes = TriPlanes(1, resolution=resolution, features=1)
    with torch.no_grad():
        triplanes.planes.zero_()
        triplanes.planes[0, 1, 0, 7:9, :] = 1.0  # xz plane, rows 7-8: z in [-1/16, 1/16], fading out by ±3/16
    c2w, intrinsics = camera(torch.eye(3), torch.tensor([0.0, 0.0, -1.3]), cx=0.5, cy=0.5)
    origins, directions = camera_rays(c2w, intrinsics, 8)
    colours, extra = render_latents(
        triplanes, SlabDecoder(), torch.tensor([0]), origins, directions, torch.ones(3),
        TriPlaneRenderConfig(n_coarse=64, n_fine=n_fine), jitter=False,
    )  # fmt: skip
    centre = 4 * 8 + 4
    assert extra["opacity"][0, centre] > 0.99
    assert 1.3 - 3 / 16 < extra["depth"][0, centre] < 1.3 - 1 / 16  # the front face of the slab
    torch.testing.assert_close(colours[0, centre], torch.full((3,), 0.25), atol=0.01, rtol=0)


def test_importance_samples_concentrate_on_the_surface():
    """With fine samples, the depth of an opaque surface is found more precisely than with coarse samples alone."""
    resolution = 64
    triplanes = TriPlanes(1, resolution=resolution, features=1)
    with torch.no_grad():
        triplanes.planes.zero_()
        triplanes.planes[0, 1, 0, 32:, :] = 1.0  # xz plane: solid for z > 0, ramp over one texel around z = 0
    # the surface is 1.25 away; 8 coarse bins between 0.5 and 2.1 put their midpoints at 1.2 and 1.4
    c2w, intrinsics = camera(torch.eye(3), torch.tensor([0.0, 0.0, -1.25]), cx=0.5, cy=0.5)
    origins, directions = camera_rays(c2w, intrinsics, 1)

    def depth_error(n_fine):
        config = TriPlaneRenderConfig(n_coarse=8, n_fine=n_fine)
        _, extra = render_latents(
            triplanes, SlabDecoder(), torch.tensor([0]), origins, directions, torch.ones(3), config, jitter=False
        )
        return (extra["depth"][0, 0] - 1.25).abs().item()

    assert depth_error(32) < 0.5 * depth_error(0)


def test_tv_of_constant_planes_is_zero_and_of_random_planes_is_not():
    triplanes = TriPlanes(2, resolution=8, features=3)
    assert triplanes.tv_loss() > 0
    with torch.no_grad():
        triplanes.planes.copy_(
            torch.arange(2 * 3 * 3, dtype=torch.float32).reshape(2, 3, 3, 1, 1).expand_as(triplanes.planes)
        )
    assert triplanes.tv_loss() == 0
    assert triplanes.tv_loss(torch.tensor([1, 1])) == 0
