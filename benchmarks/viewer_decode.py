"""Milliseconds per viewer frame of a latent run, by frame size: latent render, decode, and the whole frame.

    .venv/bin/python benchmarks/viewer_decode.py results/runs/latent/igae/tensorf/heldout/photo_001/seed1234 \\
        --sizes 64 128 256 512 --repeats 5 --out viewer_decode.csv

The run is loaded as ``igae view`` loads it (on the GPU when one is visible, else the CPU); each frame is a square
S x S viewport looking from the run's first eval view (at rest nerfstudio's viewer renders "Max res" on the longer
side, so a square frame is the most a given Max res costs). Columns, medians over ``--repeats`` calls after one
warm-up:

- render_ms: the model's latent render of the frame's ceil(S/8)^2 latent pixels;
- decode_ms: the autoencoder's decoder on that latent (what the viewer adds to a latent model);
- frame_ms: the whole viewer frame (:meth:`igae.nerf.viewer.LatentViewer.outputs`: render, decode, the latent
  view, depth and accumulation upsampled);
- frame_traced_ms: the same under the Python trace hook nerfstudio's viewer renders with (``SetTrace``, which lets a
  camera move interrupt a frame): what the viewer actually spends;
- latent_view_ms: the frame with the panel's "Latent view" switch on the latent channels (no decoding).

Each row records the CPU model, torch's threads and the load average before and after: on a shared machine compare
rows of one call only.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd
import torch


def frame_timings(pipeline, camera, repeats: int) -> dict[str, float]:
    """The columns of one frame size (see the module), in milliseconds."""
    from nerfstudio.viewer_legacy.server.viewer_utils import SetTrace

    from igae.nerf.viewer import DECODED, LATENT, latent_camera
    from igae.timing import median_time_ms

    viewer = pipeline.latent_viewer
    small = latent_camera(camera, pipeline.card.downsample)
    with torch.no_grad(), pipeline.latent_renders_only():
        latent = pipeline.model.get_outputs_for_camera(small)["rgb"]  # (h, w, C)

    def render():
        with torch.no_grad(), pipeline.latent_renders_only():
            pipeline.model.get_outputs_for_camera(small)

    def decode():
        with torch.no_grad():
            pipeline.decode_latent_image(latent)

    def traced():
        with SetTrace(lambda frame, event, arg: None):  # nerfstudio's viewer renders under its interrupt check
            viewer.outputs(camera)

    def latent_view():
        pipeline.latent_display.value = LATENT
        try:
            viewer.outputs(camera)
        finally:
            pipeline.latent_display.value = DECODED

    timed = {
        "render_ms": render,
        "decode_ms": decode,
        "frame_ms": lambda: viewer.outputs(camera),
        "frame_traced_ms": traced,
        "latent_view_ms": latent_view,
    }
    latent_size = {"latent": f"{int(small.height)}x{int(small.width)}"}
    return latent_size | {key: median_time_ms(fn, 1, repeats, pipeline.device) for key, fn in timed.items()}


def measure(run: Path, sizes: list[int], repeats: int) -> pd.DataFrame:
    from nerfstudio.cameras.cameras import CameraType
    from nerfstudio.viewer.utils import CameraState, get_camera

    from igae.nerf.view_run import load_run
    from igae.nerf.viewer import client_pose
    from igae.provenance import host_description

    _, pipeline, _, _ = load_run(run)
    if not hasattr(pipeline, "latent_viewer"):
        raise SystemExit(f"{run} is an RGB run: nothing is decoded")
    dataset_camera = pipeline.datamanager.eval_dataset.cameras[0]
    _, _, fov = client_pose(dataset_camera)
    c2w = dataset_camera.camera_to_worlds.reshape(3, 4)
    rows = []
    for size in sizes:
        load_before = os.getloadavg()[0]
        camera = get_camera(CameraState(fov, 1.0, c2w, CameraType.PERSPECTIVE), size, size).to(pipeline.device)
        row = {"size": size, **frame_timings(pipeline, camera, repeats)}
        row.update(
            method=pipeline.model.__class__.__name__,
            device=str(pipeline.device),
            cpu=host_description()["cpu"],
            threads=torch.get_num_threads(),
            load_before=load_before,
            load_after=os.getloadavg()[0],
        )
        rows.append(row)
        print(", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a latent run folder (igae fit, results/runs/latent/...)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512], help="frame sides, pixels")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch's CPU threads (default: torch's, as the viewer runs)")
    parser.add_argument("--out", type=Path, help="write the table as CSV here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    table = measure(args.run, args.sizes, args.repeats)
    if args.out:
        table.to_csv(args.out, index=False)
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
