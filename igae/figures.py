"""Figures from run folders (matplotlib, Agg backend: no display needed).

:func:`qualitative_figure` is the paper's Fig. 2/5: one row per eval view, the ground truth first, then each run's
decoded render, with the PSNR of each render under its panel. Run folders and result formats: see :mod:`igae.tables`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from igae.metrics import DEFAULT_PROTOCOL, psnr, read_rgb  # noqa: E402
from igae.provenance import atomic_write_bytes  # noqa: E402
from igae.tables import ResultFileError, read_result_json  # noqa: E402


def _view_stem(view: str) -> str:
    """'images/r_000.png' or 'r_000' -> 'r_000'."""
    return Path(view).stem


def _ground_truth_path(scene_dir: Path, view: str) -> Path:
    """The scene's image of ``view``: a frame file_path ('images/r_000.png') or a stem ('r_000')."""
    candidate = scene_dir / view
    path = candidate if candidate.suffix and candidate.is_file() else scene_dir / "images" / f"{_view_stem(view)}.png"
    if not path.is_file():
        raise FileNotFoundError(f"igae: {scene_dir}: no ground-truth image for view {view!r} (looked for {path})")
    return path


def _recorded_psnr(run_dir: Path) -> dict[str, float]:
    """{view stem: PSNR} from the run's metrics.json (the protocol's number, on the unrounded render)."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return {}
    metrics = read_result_json(path, ["per_image"])
    try:
        return {_view_stem(row["view"]): float(row["psnr"]) for row in metrics["per_image"]}
    except (KeyError, TypeError, ValueError) as error:
        raise ResultFileError(f"igae: {path}: per_image rows need a view and a psnr ({error})") from error


def qualitative_figure(
    scene_dir: str | os.PathLike,
    columns: Sequence[tuple[str, str | os.PathLike]],
    views: Sequence[str],
    out_png: str | os.PathLike,
    panel_inches: float = 1.8,
) -> Path:
    """Grid of eval views (rows) x [ground truth, each run's decoded render] (columns), written atomically to out_png.

    columns: (label, run folder) pairs, e.g. [("RGB TensoRF", "results/runs/rgb/tensorf/procedural/vase_03"), ...].
    views: frame file paths ("images/r_000.png") or stems ("r_000"); the render is ``{run}/renders/{stem}.png``.
    The PSNR under a panel is the one recorded in the run's metrics.json (computed on the unrounded render); when the
    run has no entry for the view, it is computed from the PNG files and marked "(png)".
    """
    scene_dir, out_png = Path(scene_dir), Path(out_png)
    if not views or not columns:
        raise ValueError("igae: qualitative_figure needs at least one view and one run column")
    recorded = {label: _recorded_psnr(Path(run_dir)) for label, run_dir in columns}
    figure, axes = plt.subplots(
        len(views),
        len(columns) + 1,
        figsize=(panel_inches * (len(columns) + 1), panel_inches * 1.15 * len(views)),
        squeeze=False,
    )  # axes: (views, 1 + runs)
    for row, view in enumerate(views):
        stem = _view_stem(view)
        ground_truth = read_rgb(_ground_truth_path(scene_dir, view))  # (H, W, 3) in [0, 1]
        panels = [("ground truth", ground_truth, "")]
        for label, run_dir in columns:
            render_path = Path(run_dir) / "renders" / f"{stem}.png"
            if not render_path.is_file():
                raise FileNotFoundError(f"igae: {run_dir}: no render of view {view!r} (expected {render_path})")
            render = read_rgb(render_path)
            if stem in recorded[label]:
                caption = f"PSNR {recorded[label][stem]:.2f} dB"
            elif render.shape == ground_truth.shape:
                caption = f"PSNR {psnr(render, ground_truth, DEFAULT_PROTOCOL).item():.2f} dB (png)"
            else:
                caption = f"{render.shape[1]}x{render.shape[0]} vs GT {ground_truth.shape[1]}x{ground_truth.shape[0]}"
            panels.append((label, render, caption))
        for column, (label, image, caption) in enumerate(panels):
            axis = axes[row, column]
            axis.imshow(image.numpy(), interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_xlabel(caption, fontsize=7)
            if row == 0:
                axis.set_title(label, fontsize=8)
            if column == 0:
                axis.set_ylabel(stem, fontsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=150)
    plt.close(figure)
    return atomic_write_bytes(out_png, buffer.getvalue())
