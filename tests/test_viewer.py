"""nerfstudio's viewer on latent runs: decoded frames at the viewport's size from every latent method, a fixed latent
view, the benchmark's renders untouched, ``igae view`` on moved runs, viser's client never rebuilt, and a real
headless Chromium on a real viewer of a fitted run (slow)."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from nerfstudio.cameras.cameras import CameraType
from nerfstudio.viewer.utils import CameraState, get_camera
from PIL import Image
from test_latent_methods import SMALL
from test_latent_nerf import SMALL_TENSORF

from igae.cli import main
from igae.nerf.fit import eval_scene_dir, fit, render_eval_views
from igae.nerf.method_configs import TwoStageSchedule
from igae.nerf.registry import METHODS
from igae.nerf.scoring import load_eval_renders, save_eval_renders
from igae.nerf.view_run import find_config, load_run, start_viewer
from igae.nerf.viewer import LATENT, MAX_RES, MOVING_FPS, LatentProjection, client_pose, latent_camera

REPO = Path(__file__).resolve().parents[1]
CPU_METHODS = [name for name, entry in METHODS.items() if not entry.gpu_only]
MODEL = {"tensorf": SMALL_TENSORF, **SMALL}
"""Each method's model cut down to seconds a fit (tests/test_latent_methods.py)."""


def fit_tiny(scene_and_ae, method: str) -> Path:
    """A 1 + 1 step latent fit of ``method`` on the fixture's 32-px scene and 4-channel AE (f = 8): its run folder."""
    scene, ae_dir, latents_file, root = scene_and_ae
    run = root / f"run_{method}"
    if not run.exists():
        fit(
            "latent",
            method,
            scene,
            run,
            TwoStageSchedule(latent_steps=1, align_steps=1, lr_factor=1.0),
            autoencoder=ae_dir,
            latents=latents_file,
            model_overrides=MODEL.get(method),
            curve=False,
        )
    return run


@pytest.fixture(scope="module")
def tensorf_run(scene_and_ae):
    return fit_tiny(scene_and_ae, "tensorf")


def viewer_camera(pipeline, height: int, width: int, dataset_camera=None):
    """The camera nerfstudio's viewer renders at ``height`` x ``width`` for a client looking from ``dataset_camera``
    (default: eval view 0, where the viewer starts), its vertical field of view kept."""
    if dataset_camera is None:
        dataset_camera = pipeline.datamanager.eval_dataset.cameras[0]
    _, _, fov = client_pose(dataset_camera)
    c2w = dataset_camera.camera_to_worlds.reshape(3, 4)
    state = CameraState(fov=fov, aspect=width / height, c2w=c2w, camera_type=CameraType.PERSPECTIVE)
    return get_camera(state, height, width).to(pipeline.device)


def latent_render(pipeline, camera) -> torch.Tensor:
    """The model's latent rendering of a camera, as the benchmark's eval renders it: (h, w, C)."""
    with torch.no_grad(), pipeline.latent_renders_only():
        return pipeline.model.get_outputs_for_camera(camera)["rgb"]


@pytest.mark.parametrize("method", CPU_METHODS)
def test_a_viewer_camera_gets_every_output_at_its_size_and_rgb_decoded(scene_and_ae, method):
    """64 x 64 from every CPU latent method: the latent is rendered at 8 x 8 (f = 8), rgb is its decoded image."""
    _, pipeline, _, _ = load_run(fit_tiny(scene_and_ae, method))
    outputs = pipeline.latent_viewer.outputs(viewer_camera(pipeline, 64, 64))
    assert {"rgb", "latent", "depth", "accumulation"} <= set(outputs)
    assert {key: tuple(value.shape[:2]) for key, value in outputs.items()} == {key: (64, 64) for key in outputs}
    assert outputs["rgb"].shape[-1] == 3 and outputs["latent"].shape[-1] == 3
    # the same view rendered as the latent pipeline's eval does, with an 8 x 8 camera, then decoded
    latent = latent_render(pipeline, viewer_camera(pipeline, 8, 8))  # (8, 8, C)
    assert latent.shape == (8, 8, 4)
    torch.testing.assert_close(outputs["rgb"], pipeline.decode_latent_image(latent), rtol=1e-5, atol=1e-5)


def test_a_viewport_of_any_size_gets_outputs_of_its_size(tensorf_run):
    """90 x 60 is no multiple of f = 8: the latent is 12 x 8 (ceil), its 96 x 64 decoding cropped to 90 x 60."""
    _, pipeline, _, _ = load_run(tensorf_run)
    camera = viewer_camera(pipeline, 60, 90)
    small = latent_camera(camera, 8)
    assert (int(small.height), int(small.width)) == (8, 12)
    assert float(small.fx) == pytest.approx(float(camera.fx) / 8) and float(small.cx) == pytest.approx(90 / 16)
    outputs = pipeline.latent_viewer.outputs(camera)
    assert {tuple(value.shape[:2]) for value in outputs.values()} == {(60, 90)}


def test_the_latent_view_is_one_fixed_projection_of_the_training_latents(tensorf_run):
    """Computed once, applied pixel by pixel: the same camera gives the same image twice, and two views are coloured
    by the same map (nerfstudio's own view of a C-channel output is a PCA of each frame: its colours flicker)."""
    _, pipeline, _, _ = load_run(tensorf_run)
    viewer = pipeline.latent_viewer
    projection = viewer.projection
    views = [pipeline.datamanager.eval_dataset.cameras[0], pipeline.datamanager.train_dataset.cameras[0]]
    shown = []
    for dataset_camera in views:
        first = viewer.outputs(viewer_camera(pipeline, 64, 64, dataset_camera))["latent"]  # (64, 64, 3)
        assert torch.equal(viewer.outputs(viewer_camera(pipeline, 64, 64, dataset_camera))["latent"], first)
        latent = latent_render(pipeline, viewer_camera(pipeline, 8, 8, dataset_camera))  # (8, 8, C)
        expected = projection(latent).repeat_interleave(8, 0).repeat_interleave(8, 1)  # a latent pixel: 8 x 8 pixels
        torch.testing.assert_close(first, expected)
        shown.append(first)
    assert not torch.equal(shown[0], shown[1])
    assert viewer.projection is projection
    fresh = LatentProjection(pipeline.datamanager.train_dataset.latents)  # the map depends on the training latents
    assert torch.equal(fresh.components, projection.components) and torch.equal(fresh.low, projection.low)


def test_the_panel_switch_shows_the_latent_view_as_rgb_without_decoding(tensorf_run):
    _, pipeline, _, _ = load_run(tensorf_run)
    decoded = pipeline.latent_viewer.outputs(viewer_camera(pipeline, 64, 64))
    pipeline.latent_display.value = LATENT
    calls = []
    decode = pipeline.decode_latent_image
    pipeline.decode_latent_image = lambda *args, **kwargs: calls.append(1) or decode(*args, **kwargs)
    latent = pipeline.latent_viewer.outputs(viewer_camera(pipeline, 64, 64))
    assert torch.equal(latent["rgb"], decoded["latent"]) and not torch.equal(latent["rgb"], decoded["rgb"])
    assert calls == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_same_renders(run: Path, fitted: Path) -> None:
    """The eval renders of ``run`` are bit for bit those of ``fitted``: every tensor of renders/eval.safetensors (its
    header's key order is not: safetensors writes the metadata from a hash map) and every 8-bit preview PNG."""
    (metadata, renders), (fitted_metadata, fitted_renders) = load_eval_renders(run), load_eval_renders(fitted)
    assert metadata == fitted_metadata
    for render, fitted_render in zip(renders, fitted_renders, strict=True):
        for kind in ("rgb", "latent", "encoded", "reconstruction"):
            bits, fitted_bits = (getattr(r, kind).view(torch.int32) for r in (render, fitted_render))
            assert torch.equal(bits, fitted_bits), f"{render.view}: {kind} changed"
    previews = sorted(path.name for path in (fitted / "renders").glob("*.png"))
    assert previews and previews == sorted(path.name for path in (run / "renders").glob("*.png"))
    for name in previews:
        assert (run / "renders" / name).read_bytes() == (fitted / "renders" / name).read_bytes()


def test_a_viewer_leaves_the_benchmark_renders_ns_eval_and_ns_render_unchanged(tensorf_run, tmp_path, monkeypatch):
    """A real nerfstudio viewer (its viser server on 127.0.0.1) on a loaded run, rendering decoded frames: the eval
    renders are bit for bit those the fit saved, and the model's whole-camera outputs, which ns-eval and ns-render
    read, are the same tensors as before the viewer came. The training cameras show their RGB photos."""
    from viser._scene_api import SceneApi

    config, pipeline, step, _ = load_run(tensorf_run)
    camera = pipeline.datamanager.eval_dataset.cameras[0:1].to(pipeline.device)
    before = pipeline.model.get_outputs_for_camera(camera)
    frustum_images = []
    add_frustum = SceneApi.add_camera_frustum
    monkeypatch.setattr(
        SceneApi,
        "add_camera_frustum",
        lambda self, *args, **kwargs: frustum_images.append(kwargs["image"]) or add_frustum(self, *args, **kwargs),
    )
    viewer = start_viewer(config, pipeline, step, port=free_port())
    try:
        assert len(frustum_images) == 4 and {image.shape[-1] for image in frustum_images} == {3}  # not the 4 latents
        assert viewer.get_model() is not pipeline.model
        assert viewer.get_model().get_outputs_for_camera(viewer_camera(pipeline, 64, 64))["rgb"].shape == (64, 64, 3)
        after = pipeline.model.get_outputs_for_camera(camera)
        assert sorted(after) == sorted(before) and all(torch.equal(after[key], before[key]) for key in before)
        assert after["rgb"].shape == (4, 4, 4) and after["rgb_decoded"].shape == (32, 32, 3)  # latent, ns-render's
        renders, _ = render_eval_views(pipeline, "latent", pipeline.device)
        save_eval_renders(tmp_path, "latent", eval_scene_dir(pipeline), renders, relative_to=tensorf_run)
        assert_same_renders(tmp_path, tensorf_run)
    finally:
        viewer.viser_server.stop()


def test_a_viser_client_starts_at_the_first_eval_view_and_gets_the_decoded_frame(tensorf_run):
    """The real viewer and viser server, and a websocket client that sends viser's own camera message, as the
    browser's client does: the viewer moves the client to eval view 0, sizes its moving frames for MOVING_FPS, and
    once at rest sends the decoded frame of that camera at Max res (a JPEG)."""
    import msgspec
    from viser import _messages
    from websockets.sync.client import connect

    config, pipeline, step, _ = load_run(tensorf_run)
    port, frame = free_port(), None
    viewer = start_viewer(config, pipeline, step, port=port, max_res=64)
    try:
        with connect(f"ws://127.0.0.1:{port}", max_size=None, open_timeout=30) as client:
            hello = _messages.ViewerCameraMessage(
                wxyz=(1.0, 0.0, 0.0, 0.0), position=(0.0, 0.0, -30.0), fov=1.0, aspect=1.0,
                look_at=(0.0, 0.0, 0.0), up_direction=(0.0, -1.0, 0.0),
            )  # fmt: skip
            client.send(msgspec.msgpack.encode(hello.as_serializable_dict()))
            deadline, quiet = time.monotonic() + 300, None
            while quiet is None or time.monotonic() < quiet:  # frames until none came for 5 s: the last is at rest
                assert time.monotonic() < deadline, "no frame at rest within 300 s"
                try:
                    window = msgspec.msgpack.decode(client.recv(timeout=1.0))  # a window of server messages
                except TimeoutError:
                    continue
                for message in window:
                    if message["type"] == "BackgroundImageMessage":
                        frame = np.asarray(Image.open(io.BytesIO(message["rgb_bytes"])).convert("RGB"))
                        quiet = time.monotonic() + 5.0
            (handle,) = viewer.viser_server.get_clients().values()
            machine = viewer.render_statemachines[handle.client_id]
            camera = (handle.camera.wxyz, handle.camera.position, handle.camera.fov)
    finally:
        viewer.viser_server.stop()
    assert machine.target_fps == MOVING_FPS["cuda" if str(pipeline.device).startswith("cuda") else "cpu"]
    wxyz, position, fov = client_pose(pipeline.datamanager.eval_dataset.cameras[0])
    assert min(np.abs(camera[0] - wxyz).max(), np.abs(camera[0] + wxyz).max()) < 1e-6  # q and -q: one rotation
    np.testing.assert_allclose(camera[1], position, atol=1e-6)
    assert camera[2] == pytest.approx(fov)
    assert frame.shape == (64, 64, 3)
    # the decoded render of that camera (and of a training view), sent as nerfstudio sends it: 8 bits, JPEG 75
    views = [None, pipeline.datamanager.train_dataset.cameras[0]]
    sent = [as_sent(pipeline.latent_viewer.outputs(viewer_camera(pipeline, 64, 64, view))["rgb"]) for view in views]
    errors = [np.abs(frame.astype(float) - image).mean() for image in sent]  # mean |difference|, 8-bit levels
    assert errors[0] < 0.5 and errors[1] > 2, errors


def test_latents_only_is_switched_per_thread(tensorf_run):
    """A viewer's render thread asks for latents only while the trainer's thread renders whole cameras: each thread
    keeps its own (one switch for both would drop ns-render's rgb_decoded, or leave it off for good)."""
    _, pipeline, _, _ = load_run(tensorf_run)
    camera = pipeline.datamanager.eval_dataset.cameras[0:1].to(pipeline.device)
    inside, done, keys = threading.Event(), threading.Event(), {}

    def latents_only():
        with pipeline.latent_renders_only():
            inside.set()
            done.wait(120)
            keys["latents only"] = set(pipeline.model.get_outputs_for_camera(camera))

    thread = threading.Thread(target=latents_only)
    thread.start()
    assert inside.wait(120)
    keys["whole"] = set(pipeline.model.get_outputs_for_camera(camera))  # while the other thread is inside
    done.set()
    thread.join(120)
    assert "rgb_decoded" in keys["whole"] and "rgb_decoded" not in keys["latents only"]
    assert "rgb_decoded" in pipeline.model.get_outputs_for_camera(camera)


def test_igae_view_names_a_folder_that_is_no_run(tmp_path, capsys):
    assert main(["view", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert f"igae: {tmp_path} is no run folder: it holds no nerfstudio config.yml" in error
    assert "results/runs/latent/igae/tensorf/heldout/photo_000/seed1234" in error


def test_igae_view_finds_what_a_moved_run_recorded_beside_it(scene_and_ae, tensorf_run, tmp_path):
    """The whole tree copied elsewhere: the run loads its checkpoint, scene, latents and autoencoder from the copy."""
    root, moved = scene_and_ae[3], tmp_path / "archive"
    moved.mkdir()
    for name in ("scenes", "ae", "latents.safetensors", tensorf_run.name):
        (shutil.copytree if (root / name).is_dir() else shutil.copy2)(root / name, moved / name)
    config, pipeline, _, paths = load_run(moved / tensorf_run.name)
    assert config.output_dir == (moved / tensorf_run.name).resolve()
    assert pipeline.config.autoencoder == (moved / "ae").resolve()
    assert pipeline.config.datamanager.latents == (moved / "latents.safetensors").resolve()
    assert Path(pipeline.config.datamanager.dataparser.data).is_relative_to(moved.resolve())
    assert {found for _, found in paths.moved.values()} >= {(moved / "ae").resolve()}


def test_igae_view_says_which_recorded_input_is_missing(tensorf_run, tmp_path):
    """The run copied alone, and its recorded scene gone: the error names the recorded path and the one tried."""
    run = shutil.copytree(tensorf_run, tmp_path / "run")
    config_path = find_config(run)
    config = yaml.load(config_path.read_text(), Loader=yaml.Loader)
    config.pipeline.datamanager.dataparser.data = tmp_path / "gone" / "photo_000"
    config_path.write_text(yaml.dump(config))
    with pytest.raises(FileNotFoundError) as error:
        load_run(run)
    assert f"the scene folder {tmp_path / 'gone' / 'photo_000'} does not exist, nor does " in str(error.value)


def test_viser_never_rebuilds_its_client_even_when_its_sources_look_newer(monkeypatch):
    """viser 0.2.7 rebuilds its web client (Node.js from the internet) when its sources look > 10 s newer than the
    build. Made to look so: the stock check tries to install Node.js; the check the latent plugin installs does not,
    and a real viser server serves the client shipped in the wheel."""
    import viser
    from viser import _client_autobuild as autobuild

    import igae.nerf.pipeline  # noqa: F401  (importing the plugin installs the check)

    installs = []

    def install_node():
        installs.append("node")
        raise RuntimeError("test: viser tried to install Node.js to build its client")

    monkeypatch.setattr(autobuild, "_install_sandboxed_node", install_node)
    monkeypatch.setattr(autobuild, "_check_viser_yarn_running", lambda: False)
    built = autobuild._modified_time_recursive(autobuild.build_dir)
    monkeypatch.setattr(autobuild, "_modified_time_recursive", lambda folder: built + 60 * (folder.name == "src"))
    assert autobuild.ensure_client_is_built.shipped_client_only
    with pytest.raises(RuntimeError, match="tried to install Node.js"):
        autobuild.ensure_client_is_built.replaced()  # viser's own check
    assert installs == ["node"]
    port = free_port()
    server = viser.ViserServer(host="127.0.0.1", port=port, verbose=False)
    try:
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30).read()
        assert b"<title>Viser</title>" in page
    finally:
        server.stop()
    assert installs == ["node"]


def test_every_nerfstudio_command_gets_the_shipped_client_check():
    """ns-viewer (any ns-* command) imports the plugin's entry points before it starts a viewer, latent run or not."""
    code = (
        "from nerfstudio.configs.method_configs import all_methods\n"
        "from viser import _client_autobuild as autobuild\n"
        "print('latent-tensorf' in all_methods, getattr(autobuild.ensure_client_is_built, 'shipped_client_only', 0))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-2:] == ["True", "True"]


SHIPPED_IGAE = REPO / "assets" / "autoencoders" / "igae"
BROWSER_FITS = {
    # 100 steps on a 64-px scene with the shipped IG-AE: the object shows, decoded
    "tensorf": {"init_resolution": 32, "num_uniform_samples": 48, "num_samples": 16},
    "nerfacto": {"num_proposal_samples_per_ray": (32, 16), "num_nerf_samples_per_ray": 16, "max_res": 256,
                 "log2_hashmap_size": 15},
    "kplanes": {"grid_base_resolution": (32, 32, 32), "grid_feature_dim": 16, "multiscale_res": (1, 2),
                "proposal_resolutions": (32, 64), "num_proposal_samples": (32, 16), "num_samples": 16},
}  # fmt: skip
AT_REST_RES = 128
"""`igae view --max-res` in the browser test: the longer side of the frame it renders at rest."""


@pytest.fixture(scope="module")
def shipped_ae_scene(tmp_path_factory):
    """An 8-view 64-px procedural scene (1 eval view) encoded with the shipped IG-AE: (scene, latents, folder)."""
    from igae.ae.autoencoder import load_with_card
    from igae.ae.latents import encode_scene
    from igae.scenes.procedural import build_procedural_dataset

    root = tmp_path_factory.mktemp("viewer_browser")
    (scene,) = build_procedural_dataset(root / "scenes", "photo", 1, 8, image_size=64, eval_fraction=0.125, seed=2)
    autoencoder, card = load_with_card(SHIPPED_IGAE)
    encode_scene(autoencoder, card, scene, root / "latents.safetensors")
    return scene, root / "latents.safetensors", root


def wait_for(condition, timeout: float, what: str, poll: float = 1.0):
    """``condition()``'s first truthy value, polled until ``timeout`` seconds; an AssertionError saying ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def frame_at_rest(browser, max_res: int) -> tuple[int, int] | None:
    """(width, height) of the frame the viewer sent last, from its panel's stats, once it is the frame at rest (Max
    res ``max_res`` on its longer side)."""
    text = browser.evaluate("document.body ? document.body.innerText : ''")  # null until the page has loaded
    found = re.search(r"Resolution: (\d+)[x×](\d+)px", text or "")
    size = tuple(map(int, found.groups())) if found else None
    return size if size and max(size) == max_res else None


def as_sent(image: torch.Tensor) -> np.ndarray:
    """An (H, W, 3) frame in [0, 1] as nerfstudio's viewer sends it at rest (8 bits, viser's JPEG at quality 75)."""
    from viser._scene_api import _encode_image_binary

    _, jpeg = _encode_image_binary((image * 255).to(torch.uint8).numpy(), "jpeg", jpeg_quality=75)
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).astype(float)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float64).ravel(), b.astype(np.float64).ravel())[0, 1])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "launcher"), [("tensorf", "igae"), ("nerfacto", "igae"), ("kplanes", "igae"), ("tensorf", "ns-viewer")]
)
def test_headless_chromium_shows_the_decoded_scene(shipped_ae_scene, method, launcher, tmp_path):
    """`igae view` (or stock `ns-viewer --load-config`) on a fitted run, opened by a real headless Chromium on
    127.0.0.1 (no other host resolves): once the viewer has sent its frame at rest, the viewport shows the decoded
    scene (its centre is not uniform) from the first eval view, matching a decoded render of that camera and not the
    latent view; the viewer ends on SIGINT, sent to its process id, and never tried to rebuild viser's client."""
    from headless_chromium import HeadlessChromium

    scene, latents, root = shipped_ae_scene
    run = root / f"run_{method}"
    if not run.exists():
        schedule = TwoStageSchedule(latent_steps=80, align_steps=20, lr_factor=1.0, scale_lr_schedulers=True)
        fit("latent", method, scene, run, schedule, autoencoder=SHIPPED_IGAE, latents=latents,
            model_overrides=BROWSER_FITS[method], curve=False)  # fmt: skip
    port, log, bin_dir = free_port(), tmp_path / "viewer.log", Path(sys.executable).parent
    url = f"http://127.0.0.1:{port}"
    if launcher == "igae":
        command = [bin_dir / "igae", "view", run, "--port", port, "--max-res", AT_REST_RES]
        at_rest, ready = AT_REST_RES, f"at {url}"  # igae view's own line, once the viewer is up
    else:  # nerfstudio's own command: the latent plugin's default Max res for the device
        command = [bin_dir / "ns-viewer", "--load-config", find_config(run), "--viewer.websocket-port", port,
                   "--viewer.websocket-host", "127.0.0.1"]  # fmt: skip
        at_rest, ready = MAX_RES["cuda" if torch.cuda.is_available() else "cpu"], url  # viser's banner
    with open(log, "w") as out:
        command = [str(part) for part in command]
        # SIGINT as a terminal would deliver it: a test run started in the background (`pytest &`) leaves
        # SIGINT ignored, which its children inherit, and Python then installs no KeyboardInterrupt handler
        viewer = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        wait_for(lambda: ready in log.read_text() or viewer.poll() is not None, 300, "the viewer's URL")
        assert viewer.poll() is None, log.read_text()[-3000:]
        with HeadlessChromium(tmp_path / "chromium", width=1000, height=700) as browser:
            browser.open(url)
            # the panel's stats say which frame was sent last: at rest, Max res on the longer side
            resolution = wait_for(lambda: frame_at_rest(browser, at_rest), 300, "the viewer's frame at rest")
            time.sleep(3.0)  # the frame reaches the canvas
            shot = browser.screenshot()
            canvases = browser.evaluate(
                "[...document.querySelectorAll('canvas')].map(c => {const r = c.getBoundingClientRect();"
                " return [r.left, r.top, r.width, r.height]})"
            )
            page_text = browser.evaluate("document.body.innerText")
    finally:
        if viewer.poll() is None:
            os.killpg(viewer.pid, signal.SIGINT)  # Ctrl-C, to the viewer's process (group) id
        try:
            viewer.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(viewer.pid, signal.SIGKILL)
            viewer.wait(timeout=30)
    output = log.read_text()
    assert viewer.returncode == 0 or launcher == "ns-viewer", output[-3000:]  # ns-viewer: a KeyboardInterrupt
    assert "Building now" not in output and "out of date" not in output  # viser's rebuild messages
    assert "Latent view" in page_text  # the panel's switch (Custom Elements)
    Image.fromarray(shot).save(tmp_path / "viewer.png")
    width, height = resolution
    # the viewport: the canvas with the frame's aspect ratio (the image fills it)
    left, top, canvas_w, canvas_h = min(canvases, key=lambda r: abs(r[2] / max(r[3], 1) - width / height))
    viewport = shot[round(top) : round(top + canvas_h), round(left) : round(left + canvas_w)]
    shown = np.asarray(Image.fromarray(viewport).resize((width, height), Image.BILINEAR))  # (H, W, 3)
    centre = shown[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4]
    assert centre.std() > 10, "the viewport's centre is uniform: no scene"
    _, pipeline, _, _ = load_run(run)
    reference = pipeline.latent_viewer.outputs(viewer_camera(pipeline, height, width))
    decoded, latent_view = ((reference[key].numpy() * 255).round() for key in ("rgb", "latent"))
    assert correlation(shown, decoded) > 0.8, f"screenshot vs decoded render: {correlation(shown, decoded):.3f}"
    assert correlation(shown, decoded) > correlation(shown, latent_view) + 0.2
