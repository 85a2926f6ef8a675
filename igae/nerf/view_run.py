"""``igae view <run folder>``: nerfstudio's viewer on one fitted run of the workflow's results, wherever it now lies.

A run folder (``igae fit``, ``results/runs/...``) holds nerfstudio's ``config.yml`` under ``nerfstudio/<method>/``;
that file records absolute paths: the run folder itself (where nerfstudio looks for the checkpoint), the scene, and
for latent runs the latents file and the autoencoder. When the results tree has moved (another machine, an archive),
each recorded path that lay beside the run is looked up at the same place relative to the run folder's new location,
as ``igae score`` does for the scene. The pipeline loads on the GPU when one is visible, else on the CPU
(nerfstudio's ``eval_setup``); latent runs render decoded (:mod:`igae.nerf.viewer`).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

CONFIG_GLOB = "nerfstudio/*/config.yml"
"""Where ``igae fit`` puts nerfstudio's config of a run, relative to the run folder."""


def find_config(run: str | os.PathLike) -> Path:
    """The ``config.yml`` of a run folder (or the file itself); a FileNotFoundError saying what to pass otherwise."""
    run = Path(run)
    if run.is_file() and run.suffix in (".yml", ".yaml"):
        return run
    if not run.is_dir():
        raise FileNotFoundError(f"igae: {run} does not exist: give a run folder (results/runs/...) or its config.yml")
    found = sorted(run.glob(CONFIG_GLOB)) or sorted(run.glob("**/config.yml"))
    if len(found) != 1:
        what = (
            "no nerfstudio config.yml" if not found else f"{len(found)} config.yml files ({', '.join(map(str, found))})"
        )
        raise FileNotFoundError(
            f"igae: {run} is no run folder: it holds {what}. Give one run folder written by igae fit, e.g. "
            "results/runs/latent/igae/tensorf/heldout/photo_000/seed1234, or the config.yml to open"
        )
    return found[0]


@dataclass
class RunPaths:
    """A run's recorded paths, as found now."""

    output_dir: Path
    """The folder nerfstudio's base dir (experiment/method/timestamp) is under: the run folder itself."""
    moved: dict[str, tuple[Path, Path]]
    """config field -> (recorded path, path used now), for each recorded path that was not where it was recorded."""


def relocate(config, config_path: Path) -> RunPaths:
    """Point a loaded ``TrainerConfig`` at where its run and inputs are now (in place); what moved.

    A recorded absolute path is taken relative to the recorded run folder and applied to the run folder's current
    location; if nothing is there, the recorded path itself is used; if neither exists, a FileNotFoundError names
    both.
    """
    recorded_output = Path(config.output_dir)
    depth = len(config.get_base_dir().relative_to(recorded_output).parts)
    output_dir = config_path.resolve().parent
    for _ in range(depth):
        output_dir = output_dir.parent
    config.output_dir = output_dir
    moved = {}
    pipeline = config.pipeline
    fields = [(pipeline.datamanager.dataparser, "data", "the scene folder")]
    if getattr(pipeline.datamanager, "data", None) is not None:
        fields.append((pipeline.datamanager, "data", "the scene folder"))
    if hasattr(pipeline, "autoencoder"):  # latent runs
        fields += [
            (pipeline, "autoencoder", "the autoencoder folder"),
            (pipeline.datamanager, "latents", "the latents"),
        ]
    for owner, name, what in fields:
        recorded = getattr(owner, name)
        if recorded is None or not Path(recorded).is_absolute():
            continue
        beside_run = Path(os.path.normpath(output_dir / os.path.relpath(recorded, recorded_output)))
        if beside_run.exists():
            found = beside_run
        elif Path(recorded).exists():
            found = Path(recorded)
        else:
            raise FileNotFoundError(
                f"igae: {config_path}: {what} {recorded} does not exist, nor does {beside_run} (where it would be if "
                "the results tree moved with the run). Move the run back into its workflow folder, or restore "
                f"{Path(recorded).name}"
            )
        setattr(owner, name, found)
        if found != Path(recorded):
            moved[f"{type(owner).__name__}.{name}"] = (Path(recorded), found)
    return RunPaths(output_dir, moved)


def load_run(run: str | os.PathLike):
    """nerfstudio's ``eval_setup`` on a run folder, its paths relocated: (config, pipeline, step, RunPaths)."""
    from nerfstudio.utils.eval_utils import eval_setup

    config_path = find_config(run)
    try:
        text = yaml.load(config_path.read_text(), Loader=yaml.Loader)
    except yaml.YAMLError as error:
        raise ValueError(f"igae: {config_path} is not a nerfstudio config ({error})") from error
    if not hasattr(text, "pipeline") or not hasattr(text, "get_base_dir"):
        raise ValueError(f"igae: {config_path} is not a nerfstudio trainer config (no pipeline)")
    paths: list[RunPaths] = []

    def update(config):
        paths.append(relocate(config, config_path))
        return config

    config, pipeline, _, step = eval_setup(config_path, test_mode="test", update_config_callback=update)
    return config, pipeline, step, paths[0]


def start_viewer(config, pipeline, step: int, host: str = "127.0.0.1", port: int | None = None, max_res=None):
    """nerfstudio's viewer on a loaded pipeline, as ``ns-viewer`` builds it; returns it (its server runs in threads).

    ``port``: None takes the first free one from 7007. ``max_res``: the "Max res" slider's value (None: nerfstudio's
    512 for RGB runs; for latent runs :data:`igae.nerf.viewer.MAX_RES` of the device).
    """
    from nerfstudio.utils import writer
    from nerfstudio.viewer.viewer import Viewer

    config.viewer.websocket_host = host
    config.viewer.websocket_port = port
    latent_viewer = getattr(pipeline, "latent_viewer", None)
    if latent_viewer is not None:
        latent_viewer.max_res = max_res
    viewer = Viewer(
        config.viewer,
        log_filename=config.get_base_dir() / config.viewer.relative_log_filename,
        datapath=pipeline.datamanager.get_datapath(),
        pipeline=pipeline,
        train_lock=threading.Lock(),
    )
    if max_res is not None and latent_viewer is None:
        viewer.control_panel._max_res.value = max_res  # nerfstudio exposes no setter
    # the viewer's adaptive resolution reads its frame rate from nerfstudio's event buffer (as ns-viewer sets it up)
    config.logging.local_writer.enable = False
    writer.setup_local_writer(config.logging, max_iter=config.max_num_iterations)
    viewer.init_scene(
        train_dataset=pipeline.datamanager.train_dataset,
        train_state="completed",
        eval_dataset=pipeline.datamanager.eval_dataset,
    )
    viewer.update_scene(step=step)
    viewer.update_step(step)  # the panel's "Step": the checkpoint's, not 0
    viewer.pause_train.visible = viewer.resume_train.visible = False  # a finished run: nothing to pause
    return viewer


def _say(message: str) -> None:
    print(message, flush=True)  # at once, also into a pipe: whoever started the viewer waits for its URL


def view(run: str | os.PathLike, host: str = "127.0.0.1", port: int | None = None, max_res=None, log=_say) -> None:
    """Open the viewer on a run folder and serve it until interrupted (Ctrl-C)."""
    config, pipeline, step, paths = load_run(run)
    for field, (recorded, found) in paths.moved.items():
        log(f"igae view: {field}: {recorded} is now {found}")
    viewer = start_viewer(config, pipeline, step, host=host, port=port, max_res=max_res)
    url = f"http://{host}:{viewer.viser_server.get_port()}"
    kind = "decoded latent" if getattr(pipeline, "latent_viewer", None) is not None else "RGB"
    log(f"igae view: {config.method_name} ({kind}, step {step}, {pipeline.device}) at {url}  (Ctrl-C stops it)")
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        viewer.viser_server.stop()
