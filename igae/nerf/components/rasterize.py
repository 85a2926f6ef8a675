"""One rasterizer for 3D Gaussians, two backends: gsplat's CUDA kernels on a GPU, a PyTorch compositor elsewhere.

gsplat 1.4.0 (what nerfstudio 1.1.5 pins) has no CPU rasterizer: its "torch reference" still calls CUDA ops, and
importing ``gsplat.cuda._backend`` JIT-compiles its CUDA sources (minutes) wherever ``nvcc`` is found, GPU or not.
:func:`rasterize` therefore calls gsplat's ``rasterization`` only for tensors on a CUDA device, and otherwise
composites in PyTorch with gsplat's own rules, so that both backends draw the same image from the same Gaussians:

- projection: gsplat's plain-PyTorch helpers (``gsplat.cuda._torch_impl``: covariance from quaternion and scale, EWA
  projection with a 0.3 px^2 blur, radius = ceil(3 sqrt(largest eigenvalue)), Gaussians outside [near, far] or
  entirely off-screen get radius 0);
- which Gaussians a pixel sees: those whose tile range (16 x 16 px tiles, gsplat's ``isect_tiles``) covers the
  pixel's tile, front to back by camera depth;
- compositing per pixel (gsplat's ``rasterize_to_pixels``): alpha = min(0.999, opacity exp(-sigma)); a fragment with
  alpha < 1/255 is skipped; the ray stops before the fragment that would bring its transmittance to 1e-4 or below.

What the densification strategy (``gsplat.strategy.DefaultStrategy``) reads comes back in ``info`` as from gsplat:
``means2d`` (1, N, 2), a non-leaf tensor whose ``.grad`` (after ``retain_grad``) is each Gaussian's screen-space
gradient and whose ``.absgrad`` (``absgrad=True``) sums its per-pixel gradients' absolute values, ``radii`` (1, N),
``width``, ``height``, ``n_cameras``, ``gaussian_ids`` (None: not packed).

The PyTorch compositor works as gsplat's kernel does, tile by tile (16 x 16 px), each tile's Gaussians front to back
in chunks, and a tile stops when all its rays have: a chunk is a dense (tiles, Gaussians, pixels) block of at most
:data:`CHUNK` entries for all unfinished tiles at once, composited with a cumulative sum of log(1 - alpha) along the
Gaussians. A Gaussian is listed only in the tiles where its alpha >= 1/255 ellipse can reach a pixel centre.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

BACKENDS = ("gsplat-cuda", "torch")
"""``gsplat-cuda``: gsplat's CUDA rasterizer (CUDA tensors only); ``torch``: the PyTorch compositor (any device)."""

ALPHA_MAX = 0.999
"""gsplat's clamp of a fragment's alpha."""
ALPHA_MIN = 1.0 / 255.0
"""gsplat skips fragments whose alpha is below this."""
TRANSMITTANCE_MIN = 1e-4
"""gsplat stops a ray before the fragment that would bring its transmittance to this or below."""
BLOCK = 4
"""Side of the PyTorch compositor's tiles in pixels (a divisor of gsplat's 16: the same fragments, less waste)."""
CHUNK = 1 << 21
"""(tile, Gaussian, pixel) triples composited at once (memory: ~100 bytes each with the autograd graph)."""


def backend_for(device: torch.device | str) -> str:
    """The backend :func:`rasterize` uses for tensors on ``device``: gsplat's CUDA kernels on a CUDA device."""
    return "gsplat-cuda" if torch.device(device).type == "cuda" else "torch"


def gsplat_cuda_loaded() -> bool:
    """Whether this process has imported gsplat's CUDA extension (``gsplat.cuda._backend``: the JIT build)."""
    import sys

    return "gsplat.cuda._backend" in sys.modules


def viewmat_from_camera_to_world(camera_to_world: Tensor) -> Tensor:
    """(C, 3, 4) nerfstudio camera-to-world (OpenGL: x right, y up, z back) -> (C, 4, 4) world-to-camera in gsplat's
    OpenCV convention (x right, y down, z forward)."""
    rotation = camera_to_world[:, :3, :3] * camera_to_world.new_tensor([1.0, -1.0, -1.0])  # flip y and z axes
    translation = camera_to_world[:, :3, 3:4]
    viewmat = torch.zeros(camera_to_world.shape[0], 4, 4, dtype=camera_to_world.dtype, device=camera_to_world.device)
    viewmat[:, :3, :3] = rotation.transpose(1, 2)
    viewmat[:, :3, 3:4] = -rotation.transpose(1, 2) @ translation
    viewmat[:, 3, 3] = 1.0
    return viewmat


def rasterize(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmat: Tensor,
    K: Tensor,
    width: int,
    height: int,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    eps2d: float = 0.3,
    tile_size: int = 16,
    antialiased: bool = False,
    expected_depth: bool = False,
    absgrad: bool = False,
    backend: str | None = None,
) -> tuple[Tensor, Tensor, dict]:
    """Render N Gaussians into one camera.

    ``means`` (N, 3) world positions, ``quats`` (N, 4) wxyz (normalised here), ``scales`` (N, 3) and ``opacities``
    (N,) activated, ``colors`` (N, D) any D, ``viewmat`` (1, 4, 4) world-to-camera (OpenCV axes), ``K`` (1, 3, 3)
    intrinsics in pixels; ``antialiased``: gsplat's "antialiased" mode (opacities times the blur's compensation).
    Returns ``render`` (1, H, W, D) (+ 1 channel: the expected depth, with ``expected_depth``), ``alpha``
    (1, H, W, 1) and ``info`` (see the module's docstring). ``backend``: None picks :func:`backend_for`.
    """
    if viewmat.shape != (1, 4, 4) or K.shape != (1, 3, 3):
        raise ValueError(f"rasterize renders one camera: viewmat {tuple(viewmat.shape)}, K {tuple(K.shape)}")
    backend = backend or backend_for(means.device)
    if backend not in BACKENDS:
        raise ValueError(f"unknown rasterizer backend {backend!r} (known: {', '.join(BACKENDS)})")
    run = _rasterize_gsplat if backend == "gsplat-cuda" else _rasterize_torch
    return run(
        means, quats, scales, opacities, colors, viewmat, K, width, height, near_plane, far_plane, eps2d, tile_size,
        antialiased, expected_depth, absgrad,
    )  # fmt: skip


def _rasterize_gsplat(
    means, quats, scales, opacities, colors, viewmat, K, width, height, near_plane, far_plane, eps2d, tile_size,
    antialiased, expected_depth, absgrad,
):  # fmt: skip
    if means.device.type != "cuda":
        # importing gsplat's CUDA extension on a machine with nvcc starts a JIT build of minutes, GPU or not
        raise RuntimeError(
            f"the gsplat-cuda rasterizer needs CUDA tensors, got {means.device}: use the torch backend on a CPU"
        )
    load_gsplat_cuda()
    from gsplat.rendering import rasterization

    return rasterization(
        means, quats, scales, opacities, colors, viewmat, K, width, height,
        near_plane=near_plane, far_plane=far_plane, eps2d=eps2d, tile_size=tile_size, packed=False,
        render_mode="RGB+ED" if expected_depth else "RGB", absgrad=absgrad,
        rasterize_mode="antialiased" if antialiased else "classic",
    )  # fmt: skip


def load_gsplat_cuda():
    """Import gsplat's CUDA extension, JIT-building it on first use (minutes), one process at a time; return it.

    gsplat's first import deletes its build folder when that holds no built library yet, so processes importing it
    at once (splatting jobs starting together on a fresh machine) can delete each other's half-done build: an
    exclusive lock on a file beside torch's extension folder lets one build and the others then load it.
    """
    import fcntl
    from pathlib import Path

    from torch.utils.cpp_extension import _get_build_directory

    lock = Path(_get_build_directory("gsplat_cuda", verbose=False)).parent / "gsplat_cuda.igae.lock"
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        from gsplat.cuda._backend import _C
    if _C is None:
        raise RuntimeError(
            "gsplat found no CUDA toolkit (no nvcc on PATH), so it cannot build its CUDA extension: put the CUDA "
            "toolkit's bin/ on PATH (e.g. /usr/local/cuda/bin), or render with the torch backend"
        )
    return _C


def project(means, quats, scales, viewmat, K, width, height, near_plane, far_plane, eps2d, antialiased):
    """gsplat's projection in PyTorch for the Gaussians in front of the camera; the others get radius 0.

    Returns (1, N) ``radii`` (int32), (1, N, 2) ``means2d``, (1, N) ``depths``, (1, N, 3) ``conics`` (upper triangle
    of the inverse 2D covariance) and (1, N) compensations or None. Gaussians behind the near plane are left out
    before projecting: their perspective division would put inf or NaN into the gradients of the others.
    """
    from gsplat.cuda._torch_impl import _fully_fused_projection, _quat_scale_to_covar_preci  # plain PyTorch

    n = means.shape[0]
    with torch.no_grad():
        depth = means @ viewmat[0, 2, :3] + viewmat[0, 2, 3]  # (N,) camera-space z
        front = ((depth > near_plane) & (depth < far_plane)).nonzero().squeeze(1)  # (F,)
    covars, _ = _quat_scale_to_covar_preci(quats[front], scales[front], compute_preci=False)  # (F, 3, 3)
    radii_f, means2d_f, depths_f, conics_f, compensations_f = _fully_fused_projection(
        means[front], covars, viewmat, K, width, height, eps2d=eps2d, near_plane=near_plane, far_plane=far_plane,
        calc_compensations=antialiased,
    )  # fmt: skip
    means2d = means.new_zeros(1, n, 2).index_copy(1, front, means2d_f)
    radii = torch.zeros(1, n, dtype=torch.int32, device=means.device).index_copy(1, front, radii_f)
    depths = means.new_zeros(1, n).index_copy(1, front, depths_f)
    conics = means.new_zeros(1, n, 3).index_copy(1, front, conics_f)
    compensations = None if compensations_f is None else means.new_zeros(1, n).index_copy(1, front, compensations_f)
    return radii, means2d, depths, conics, compensations


def _rasterize_torch(
    means, quats, scales, opacities, colors, viewmat, K, width, height, near_plane, far_plane, eps2d, tile_size,
    antialiased, expected_depth, absgrad,
):  # fmt: skip
    radii, means2d, depths, conics, compensations = project(
        means, quats, scales, viewmat, K, width, height, near_plane, far_plane, eps2d, antialiased
    )
    if compensations is not None:
        opacities = opacities * compensations[0]
    if expected_depth:
        colors = torch.cat([colors, depths[0, :, None]], dim=-1)  # (N, D + 1)
    if absgrad:
        means2d.absgrad = torch.zeros_like(means2d, requires_grad=False)
    render, alpha = composite(means2d, conics, opacities, colors, radii, depths, width, height, tile_size, absgrad)
    if expected_depth:
        render = torch.cat([render[..., :-1], render[..., -1:] / alpha.clamp(min=1e-10)], dim=-1)
    info = {
        "camera_ids": None, "gaussian_ids": None, "radii": radii, "means2d": means2d, "depths": depths,
        "conics": conics, "opacities": opacities[None], "width": width, "height": height, "tile_size": tile_size,
        "n_cameras": 1,
    }  # fmt: skip
    return render, alpha, info


@torch.no_grad()
def candidate_boxes(means2d, conics, opacities, radii, width, height, tile_size):
    """Per Gaussian, the pixel box [x0, x1) x [y0, y1) where it can draw a fragment: the pixels of its tile range
    (gsplat's ``isect_tiles``, in float32 as there) whose centre lies in the bounding box of its alpha >= 1/255
    ellipse (0.5 d^T conic d <= log(255 opacity)), widened by a pixel against rounding. All (V,) int64."""
    tiles_x, tiles_y = math.ceil(width / tile_size), math.ceil(height / tile_size)
    tile_xy = means2d / tile_size  # (V, 2)
    tile_radius = (radii.float() / tile_size)[:, None]
    tile_min = torch.floor(tile_xy - tile_radius)
    tile_max = torch.ceil(tile_xy + tile_radius)
    limits = means2d.new_tensor([tiles_x, tiles_y])
    tile_min = torch.minimum(tile_min.clamp(min=0), limits).long()
    tile_max = torch.minimum(tile_max.clamp(min=0), limits).long()
    a, b, c = conics.unbind(-1)
    det = (a * c - b * b).clamp(min=1e-20)
    level = torch.log((opacities * 255.0).clamp(min=1e-20)).clamp(min=0.0)  # sigma bound; 0: no fragment
    extent = torch.stack([torch.sqrt(2 * level * c / det), torch.sqrt(2 * level * a / det)], -1)  # (V, 2) px
    low = torch.floor(means2d - extent - 0.5).long() - 1  # first pixel whose centre may be inside
    high = torch.ceil(means2d + extent - 0.5).long() + 2  # one past the last
    size = torch.tensor([width, height], device=means2d.device)
    start = torch.maximum(tile_min * tile_size, low.clamp(min=0))
    stop = torch.minimum(torch.minimum(tile_max * tile_size, size), high)
    stop = torch.where(level[:, None] > 0, stop, start)  # opacity < 1/255: no fragment anywhere
    return start[:, 0], stop[:, 0], start[:, 1], stop[:, 1]


def tile_lists(boxes, width: int, height: int, tile_size: int) -> tuple[Tensor, Tensor]:
    """(T, L) indices into the (V,) Gaussians (front to back) of the Gaussians each tile may draw, padded with V,
    and (T,) their number. A Gaussian is listed in the tiles its pixel box (:func:`candidate_boxes`) touches."""
    x0, x1, y0, y1 = boxes
    tiles_x, tiles_y = math.ceil(width / tile_size), math.ceil(height / tile_size)
    tx0, ty0 = x0 // tile_size, y0 // tile_size
    nx = ((x1 + tile_size - 1) // tile_size - tx0).clamp(min=0)
    ny = ((y1 + tile_size - 1) // tile_size - ty0).clamp(min=0)
    counts = torch.where(x1 > x0, nx, 0) * torch.where(y1 > y0, ny, 0)  # (V,) tiles per Gaussian
    n_visible, device = len(counts), counts.device
    gaussian = torch.repeat_interleave(torch.arange(n_visible, device=device), counts)  # (I,) front to back
    local = torch.arange(len(gaussian), device=device) - (torch.cumsum(counts, 0) - counts)[gaussian]
    tile = (ty0[gaussian] + local // nx[gaussian]) * tiles_x + tx0[gaussian] + local % nx[gaussian]  # (I,)
    tile, by_tile = torch.sort(tile, stable=True)  # by tile, then front to back
    per_tile = torch.bincount(tile, minlength=tiles_x * tiles_y)  # (T,)
    slot = torch.arange(len(tile), device=device) - (torch.cumsum(per_tile, 0) - per_tile)[tile]
    lists = torch.full((tiles_x * tiles_y, int(per_tile.max()) if len(tile) else 0), n_visible, device=device)
    lists[tile, slot] = gaussian[by_tile]
    return lists, per_tile


def _sigma(delta_x: Tensor, delta_y: Tensor, conic: Tensor) -> Tensor:
    """gsplat's Gaussian exponent 0.5 d^T conic d: offsets (A, B, P), conics (A, B, 3) -> (A, B, P)."""
    a, b, c = conic[..., 0:1], conic[..., 1:2], conic[..., 2:3]
    return 0.5 * (a * delta_x * delta_x + c * delta_y * delta_y) + b * delta_x * delta_y


def composite(means2d, conics, opacities, colors, radii, depths, width, height, tile_size, absgrad):
    """Front-to-back alpha compositing with gsplat's rules. (1, N, ...) projected Gaussians, (N,) opacities,
    (N, D) colours -> (1, H, W, D) colours (no background) and (1, H, W, 1) alpha (1 - final transmittance).

    As gsplat's kernel: per tile, its Gaussians front to back in chunks, a tile leaving off when all its rays have
    stopped. Here a chunk is dense, (tiles, Gaussians, pixels), for all the unfinished tiles at once, and the tiles are
    :data:`BLOCK` px: gsplat's 16-px tiles decide which Gaussians a pixel sees (:func:`candidate_boxes`).
    """
    visible = (radii[0] > 0).nonzero().squeeze(1)
    order = visible[torch.argsort(depths[0, visible], stable=True)]  # (V,) front to back; ties by index, as gsplat
    n_visible, channels = len(order), colors.shape[-1]
    xy, conic, opacity = means2d[0, order], conics[0, order], opacities[order]  # (V, 2), (V, 3), (V,)
    boxes = candidate_boxes(xy.detach(), conic.detach(), opacity.detach(), radii[0, order], width, height, tile_size)
    block = math.gcd(BLOCK, tile_size)  # compute tiles inside gsplat's: a listed Gaussian reaches all their pixels
    lists, lengths = tile_lists(boxes, width, height, block)  # (T, L), (T,)
    # row V pads the lists: opacity 0 draws nothing
    xy = torch.cat([xy, xy.new_zeros(1, 2)])
    conic = torch.cat([conic, conic.new_zeros(1, 3)])
    opacity = torch.cat([opacity, opacity.new_zeros(1)])
    colour = torch.cat([colors[order], colors.new_zeros(1, channels)])  # (V + 1, D)
    # pixel centres of each tile: (T, P), P = block^2, row-major inside the tile
    tiles_x, tiles_y = math.ceil(width / block), math.ceil(height / block)
    inner = torch.arange(block * block, device=xy.device)
    tile_ids = torch.arange(tiles_x * tiles_y, device=xy.device)
    pixel_x = (tile_ids % tiles_x)[:, None] * block + inner % block  # (T, P)
    pixel_y = (tile_ids // tiles_x)[:, None] * block + inner // block
    inside = (pixel_x < width) & (pixel_y < height)
    centre_x, centre_y = pixel_x.to(xy.dtype) + 0.5, pixel_y.to(xy.dtype) + 0.5
    n_tiles, n_pixels = inside.shape
    image = colors.new_zeros(n_tiles, n_pixels, channels)
    log_t = xy.new_zeros(n_tiles, n_pixels)  # log transmittance so far
    done = ~inside  # rays that stopped (and pixels off the image)
    start, log_t_min = 0, math.log(TRANSMITTANCE_MIN)
    while True:
        active = ((lengths > start) & ~done.all(dim=1)).nonzero().squeeze(1)  # (A,) unfinished tiles
        if len(active) == 0:
            break
        step = max(16, CHUNK // (len(active) * n_pixels))
        rows = lists[active, start : start + step]  # (A, B) rows of the per-Gaussian tensors
        start += step
        dx = xy[rows, 0][..., None] - centre_x[active][:, None, :]  # (A, B, P)
        dy = xy[rows, 1][..., None] - centre_y[active][:, None, :]
        if absgrad and dx.requires_grad:  # per-pixel gradients of the screen-space means, as absolute values
            real = rows < n_visible
            dx.register_hook(_accumulate_abs(means2d.absgrad[0, :, 0], order, rows, real))
            dy.register_hook(_accumulate_abs(means2d.absgrad[0, :, 1], order, rows, real))
        sigma = _sigma(dx, dy, conic[rows])
        alpha = torch.clamp_max(opacity[rows][..., None] * torch.exp(-sigma), ALPHA_MAX)  # (A, B, P)
        log_t_active = log_t[active][:, None, :]  # (A, 1, P)
        with torch.no_grad():  # gsplat's rules: skip sigma < 0 or alpha < 1/255; stop before T <= 1e-4
            drawn = (sigma >= 0) & (alpha >= ALPHA_MIN) & ~done[active][:, None, :]
            after = log_t_active + torch.cumsum(torch.log1p(-alpha * drawn), dim=1)
            kept = drawn & (after > log_t_min)
            stopped = (drawn & ~kept).any(dim=1)  # (A, P)
        alpha = alpha * kept
        log_transmittance = torch.log1p(-alpha)  # (A, B, P)
        log_after = log_t_active + torch.cumsum(log_transmittance, dim=1)
        weights = alpha * torch.exp(log_after - log_transmittance)  # alpha x transmittance before it
        image = image.index_add(0, active, torch.einsum("abp,abd->apd", weights, colour[rows]))
        log_t = log_t.index_copy(0, active, log_after[:, -1, :])
        done = done.index_copy(0, active, done[active] | stopped)
    if not image.requires_grad and opacities.requires_grad:  # nothing drawn: zero gradients, as gsplat's backward
        image, log_t = image + 0.0 * opacities.sum(), log_t + 0.0 * opacities.sum()
    # tiles -> image: (T, P, D) -> (H, W, D), pixels off the image dropped
    pixel = (pixel_y * width + pixel_x)[inside]
    out = colors.new_zeros(width * height, channels).index_copy(0, pixel, image[inside])
    alpha_image = xy.new_zeros(width * height).index_copy(0, pixel, 1.0 - torch.exp(log_t[inside]))
    return out.view(1, height, width, channels), alpha_image.view(1, height, width, 1)


def _accumulate_abs(target: Tensor, order: Tensor, rows: Tensor, real: Tensor):
    """A gradient hook: |gradient| (A, B, P) summed over pixels, added into ``target`` (N,) at the Gaussians
    ``order[rows]`` of the ``real`` (not padding) rows."""

    def hook(grad: Tensor) -> None:
        target.index_add_(0, order[rows[real]], grad.abs().sum(dim=-1)[real])

    return hook
