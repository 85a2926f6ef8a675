"""nerfstudio's viewer on latent NeRFs: decoded RGB at the viewport's size, and a fixed view of the latent channels.

The viewer (``ns-viewer``, ``ns-train --vis viewer``, ``igae view``) asks its model for a camera at the viewport's
resolution H x W and shows ``rgb``, or any other output, with a colormap. A latent model renders one latent pixel per
f x f image pixels (f: the autoencoder card's downsample), and its ``rgb`` has C channels, which the viewer would show
through a PCA recomputed every frame. So when a viewer attaches to a latent pipeline (:class:`LatentViewer`, a
nerfstudio ``ViewerControl`` the viewer finds on the pipeline and sets up), it renders through :class:`ViewerModel`:

- the latent is rendered at ceil(H/f) x ceil(W/f) by a camera with exactly scaled intrinsics, whatever the model
  (it only calls the model's ``get_outputs_for_camera``: ray-based models and splatting alike);
- ``rgb`` is the decoded image cropped to H x W, or, per the "Latent view" control, the latent channels through a
  fixed 3-channel projection (:class:`LatentProjection`, computed once from the training latents);
- ``latent`` is always that fixed view (for split screen beside the decoded image), as are other latent outputs
  (vanilla NeRF's ``rgb_coarse``); every other image output (depth, accumulation, ...) is upsampled to H x W, so
  split view and depth compositing work (a model naming its final depth ``depth_fine`` gets it as ``depth`` too).

Everything else renders as before: the benchmark's own renders, ``ns-eval`` and ``ns-render`` call the model, not
the viewer, and never meet this module. Importing it also keeps viser's web client offline
(:func:`serve_shipped_viser_client`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from nerfstudio.cameras.cameras import Cameras
from nerfstudio.viewer.viewer_elements import ViewerControl, ViewerDropdown

DECODED = "decoded RGB"
"""The "Latent view" control's value that shows the decoded image as ``rgb`` (the default)."""
LATENT = "latent channels (fixed PCA)"
"""The "Latent view" control's value that shows the latent channels' fixed 3-channel view as ``rgb`` (no decoding:
the fastest view on a CPU)."""

MAX_RES = {"cpu": 256, "cuda": 512}
"""The viewer's "Max res" (the longer side of a frame at rest, in pixels) a latent run starts with, per device.
nerfstudio's default is 512: on a 2-core CPU a 512-px frame (a 64 x 64 latent decoded) takes 5-7 s, a 256-px one
0.7-1.8 s (docs/nerfstudio.md#the-viewer); 256 is twice the default scenes' 128 px."""
MOVING_FPS = {"cpu": 10, "cuda": 30}
"""Frames a second the viewer's resolution aims at while the camera moves, per device. nerfstudio sizes moving
frames from the pixels a second it measured (render and decode together) to reach 30, down to 30 px; on a 2-core
CPU that leaves 35-55-px frames (a 5 x 5 latent: nothing to judge), 10 gives 60-100 px."""


def latent_display_control() -> ViewerDropdown:
    """The viewer panel's switch between the decoded image and the latent channels' fixed view (Custom Elements)."""
    return ViewerDropdown(
        "Latent view",
        DECODED,
        [DECODED, LATENT],
        hint="rgb: the decoded image, or the latent channels through a fixed projection (PCA of the training latents)",
    )


def latent_camera(camera: Cameras, downsample: int) -> Cameras:
    """The latent camera of a (1,) viewer camera of H x W pixels: ceil(H/f) x ceil(W/f) pixels, intrinsics / f.

    Latent pixel (i, j) covers image pixels [f i, f i + f) x [f j, f j + f), as in training (the dataset's cameras
    are scaled by 1/f exactly), so its decoded image of f ceil(H/f) x f ceil(W/f) pixels, cropped to its top-left
    H x W, is the requested view.
    """
    height, width = int(camera.height.reshape(-1)[0]), int(camera.width.reshape(-1)[0])
    size = lambda pixels: torch.full_like(camera.height, math.ceil(pixels / downsample))  # noqa: E731
    return Cameras(
        camera_to_worlds=camera.camera_to_worlds,
        fx=camera.fx / downsample,
        fy=camera.fy / downsample,
        cx=camera.cx / downsample,
        cy=camera.cy / downsample,
        height=size(height),
        width=size(width),
        distortion_params=camera.distortion_params,
        camera_type=camera.camera_type,
        times=camera.times,
        metadata=camera.metadata,
    )


def upsample(image: torch.Tensor, factor: int, size: tuple[int, int], mode: str) -> torch.Tensor:
    """(h, w, k) latent-resolution image -> (H, W, k): ``factor`` times larger, cropped to ``size``.

    ``bilinear`` (align_corners=False) puts latent pixel centres on the centres of the f x f pixels they cover, as the
    latent camera does; ``nearest`` shows each latent pixel as the f x f block it covers.
    """
    image = image.permute(2, 0, 1)[None].float()  # (1, k, h, w)
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    image = F.interpolate(image, scale_factor=factor, mode=mode, **kwargs)  # (1, k, f h, f w)
    return image[0, :, : size[0], : size[1]].permute(1, 2, 0)


class LatentProjection:
    """A fixed linear map of C latent channels to 3 display channels in [0, 1]: the top 3 principal components of
    the training latents, each scaled so that its 1st..99th percentile spans [0, 1].

    Computed once per pipeline (never per frame), so a latent value has the same colour in every frame and view.
    """

    def __init__(self, latents: torch.Tensor):
        """``latents``: (..., C) training latents in the normaliser's [0, 1] space."""
        samples = latents.reshape(-1, latents.shape[-1]).double()  # (N, C)
        self.mean = samples.mean(0)  # (C,)
        centred = samples - self.mean
        _, vectors = torch.linalg.eigh(centred.T @ centred / max(len(samples) - 1, 1))  # ascending eigenvalues
        components = vectors.flip(-1)[:, :3]  # (C, <=3): the largest first
        # eigenvectors have no sign: make each one's largest coefficient positive, so the colours are reproducible
        signs = torch.sign(components.gather(0, components.abs().argmax(0, keepdim=True)))
        components = components * signs
        if components.shape[1] < 3:  # fewer than 3 latent channels: the missing display channels stay at 0.5
            components = torch.cat([components, components.new_zeros(len(components), 3 - components.shape[1])], 1)
        projected = centred @ components  # (N, 3)
        projected = projected[:: max(1, len(projected) // 100_000)]  # torch.quantile takes at most 2**24 values
        self.low, self.high = torch.quantile(projected, 0.01, dim=0), torch.quantile(projected, 0.99, dim=0)
        self.components = components

    def __call__(self, latent: torch.Tensor) -> torch.Tensor:
        """(..., C) latents -> (..., 3) display colours in [0, 1]."""
        mean, components = self.mean.to(latent.device), self.components.to(latent.device)
        low, high = self.low.to(latent.device), self.high.to(latent.device)
        projected = (latent.double() - mean) @ components  # (..., 3)
        span = torch.where(high > low, high - low, torch.ones_like(high))
        colours = torch.where(high > low, (projected - low) / span, torch.full_like(projected, 0.5))
        return colours.clamp(0, 1).to(latent.dtype)


class ViewerModel:
    """What the viewer renders with (``Viewer.get_model``): the latent model, but ``get_outputs_for_camera`` renders
    the latent at 1/f and decodes it (:meth:`LatentViewer.outputs`). Everything else is the model's own."""

    def __init__(self, latent_viewer: LatentViewer):
        self._latent_viewer = latent_viewer

    def __getattr__(self, name):
        return getattr(self._latent_viewer.pipeline.model, name)

    def get_outputs_for_camera(self, camera: Cameras, obb_box=None) -> dict[str, torch.Tensor]:
        return self._latent_viewer.outputs(camera, obb_box)


class LatentViewer(ViewerControl):
    """The latent pipeline's side of nerfstudio's viewer. The viewer finds this ``ViewerControl`` on the pipeline and
    calls :meth:`_setup` while it builds its panel; from then on that viewer (and it alone) renders decoded images
    through :class:`ViewerModel`, starts at the first eval view, shows RGB photos on the training cameras, opens
    with "Max res" at :data:`MAX_RES` of the device and sizes moving frames for :data:`MOVING_FPS`."""

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.max_res: int | None = None
        """The viewer's "Max res" to open with; None: :data:`MAX_RES` of the pipeline's device."""
        self._projection: LatentProjection | None = None

    @property
    def projection(self) -> LatentProjection:
        """The fixed latent view, computed on first use from the training latents (N, h, w, C)."""
        if self._projection is None:
            self._projection = LatentProjection(self.pipeline.datamanager.train_dataset.latents)
        return self._projection

    @torch.no_grad()
    def outputs(self, camera: Cameras, obb_box=None) -> dict[str, torch.Tensor]:
        """What the viewer shows for a (1,) camera of H x W pixels, every image output at H x W (see the module)."""
        pipeline, factor = self.pipeline, self.pipeline.card.downsample
        size = (int(camera.height.reshape(-1)[0]), int(camera.width.reshape(-1)[0]))  # (H, W)
        with pipeline.latent_renders_only():  # the model's own full-resolution decode (rgb_decoded) is not wanted
            rendered = pipeline.model.get_outputs_for_camera(latent_camera(camera, factor), obb_box=obb_box)
        latent = rendered["rgb"]  # (h, w, C), h = ceil(H/f), w = ceil(W/f)
        latent_view = upsample(self.projection(latent), factor, size, "nearest")  # (H, W, 3)
        if pipeline.latent_display.value == LATENT:
            rgb = latent_view
        else:
            rgb = pipeline.decode_latent_image(latent)[: size[0], : size[1]]  # (f h, f w, 3) -> (H, W, 3) in [0, 1]
        outputs = {"rgb": rgb, "latent": latent_view}
        channels = latent.shape[-1]
        for key, value in rendered.items():  # (h, w, k) -> (H, W, k); other outputs (no image) are left out
            if key in outputs or not (isinstance(value, torch.Tensor) and value.shape[:2] == latent.shape[:2]):
                continue
            if value.dim() == 3 and value.shape[-1] == channels > 3:  # another latent image (vanilla NeRF's coarse)
                outputs[key] = upsample(self.projection(value), factor, size, "nearest")
            elif value.dim() == 3:  # depth, accumulation, ...
                outputs[key] = upsample(value, factor, size, "bilinear")
        for key in ("depth", "accumulation"):  # what the viewer's depth compositing reads; vanilla NeRF: *_fine
            if key not in outputs and f"{key}_fine" in outputs:
                outputs[key] = outputs[f"{key}_fine"]
        return outputs

    def _setup(self, viewer) -> None:
        super()._setup(viewer)
        pipeline = self.pipeline
        model = ViewerModel(self)
        viewer.get_model = lambda: model  # this viewer's renders only; eval, ns-render and the benchmark use the model
        device = "cuda" if str(pipeline.device).startswith("cuda") else "cpu"
        # nerfstudio exposes no setter for its "Max res" slider's value
        viewer.control_panel._max_res.value = self.max_res or MAX_RES[device]
        dataset = pipeline.datamanager.train_dataset
        if hasattr(dataset, "rgb"):  # the training cameras' frustums show the photos, not latent channels 0-2
            init_scene = viewer.init_scene
            viewer.init_scene = lambda train_dataset, *args, **kwargs: init_scene(
                _RGBFrames(train_dataset) if train_dataset is dataset else train_dataset, *args, **kwargs
            )
        eval_dataset = getattr(pipeline.datamanager, "eval_dataset", None)
        start = eval_dataset.cameras[0] if eval_dataset is not None and len(eval_dataset) else None

        def on_connect(client) -> None:  # after the viewer's own: the client's render state machine exists
            viewer.render_statemachines[client.client_id].target_fps = MOVING_FPS[device]
            if start is not None:
                set_client_camera(client, start)

        viewer.viser_server.on_client_connect(on_connect)


class _RGBFrames:
    """A latent dataset as the viewer's ``init_scene`` reads it: frame i's ``image`` is its RGB photo (H, W, 3)."""

    def __init__(self, dataset):
        self.dataset, self.cameras = dataset, dataset.cameras

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image_idx": index, "image": self.dataset.rgb(index)}


def client_pose(camera: Cameras) -> tuple[np.ndarray, np.ndarray, float]:
    """A dataset camera (one) as a viser client camera: (wxyz, position in viser units, vertical field of view)."""
    import viser.transforms as vtf
    from nerfstudio.viewer.viewer import VISER_NERFSTUDIO_SCALE_RATIO

    c2w = camera.camera_to_worlds.reshape(3, 4).double().cpu().numpy()
    # nerfstudio cameras look down -z with +y up; viser's (OpenCV) down +z with -y up: the viewer's own conversion
    rotation = vtf.SO3.from_matrix(c2w[:, :3]) @ vtf.SO3.from_x_radians(np.pi)
    fov = 2 * math.atan(float(camera.height.reshape(-1)[0]) / 2 / float(camera.fy.reshape(-1)[0]))
    return rotation.wxyz, c2w[:, 3] * VISER_NERFSTUDIO_SCALE_RATIO, fov


def set_client_camera(client, camera: Cameras) -> None:
    """Move a connected viser client's camera to a dataset camera (pose and vertical field of view)."""
    wxyz, position, fov = client_pose(camera)
    with client.atomic():
        client.camera.fov = fov
        client.camera.position = position
        client.camera.wxyz = wxyz


def serve_shipped_viser_client() -> None:
    """Make viser serve the web client built into its wheel, and never build one.

    viser 0.2.7 checks at each server start (``viser._client_autobuild.ensure_client_is_built``) whether its client
    sources (``viser/client/src``) are more than 10 s newer than the build (``viser/client/build``), and if so
    downloads Node.js (nodeenv) and runs ``yarn install`` / ``yarn build``: with no internet the viewer dies, with
    internet it rewrites the installed package. Mtimes say nothing here: pip writes both folders at install time, and
    a copied or touched environment can leave the sources the newer. The check is replaced by one that only asks for
    the shipped build. Idempotent; called when the latent plugin is imported, i.e. before any viewer of this
    environment's nerfstudio starts.
    """
    from viser import _client_autobuild

    if getattr(_client_autobuild.ensure_client_is_built, "shipped_client_only", False):
        return

    def ensure_shipped_client() -> None:
        index = Path(_client_autobuild.build_dir) / "index.html"
        if not index.is_file():
            raise RuntimeError(
                f"igae: viser's web client is missing: {index} does not exist. igae-bench serves the client built "
                "into viser's wheel and never builds one (that needs Node.js from the internet): reinstall viser "
                "(bash envs/setup.sh, or pip install --force-reinstall --no-deps viser==0.2.7)"
            )

    ensure_shipped_client.shipped_client_only = True
    ensure_shipped_client.replaced = _client_autobuild.ensure_client_is_built  # viser's own (the tests call it)
    _client_autobuild.ensure_client_is_built = ensure_shipped_client
