"""A scene's failure floor: what the pictures that ignore the camera score on its eval views. Written with the scene
(rule scene_dataset); a fit that scores below it is ``failed`` (:func:`igae.nerf.scoring.fit_status`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from igae.files import atomic_write_json
from igae.metrics import psnr
from igae.scenes.dataset_io import load_scene

FLOOR_FILE = "floor.json"
"""A scene's failure floor (:func:`scene_floor`), stored in the scene folder by the job that writes the scene."""


def compute_scene_floor(scene_dir: str | os.PathLike) -> dict[str, float]:
    """The eval PSNR of the two predictors that use nothing of a scene's 3D structure: its white background
    (``background_psnr``) and the mean of its train images, the best image that ignores the camera
    (``mean_image_psnr``); each the mean PSNR over the eval views, in float, as the fits' PSNR. ``floor_psnr`` is the
    larger: a fit below it is no better than a picture that does not depend on the view."""
    scene = load_scene(scene_dir)
    views = torch.from_numpy(scene.images[scene.eval_indices])  # (E, H, W, 3) in [0, 1]
    mean_image = torch.from_numpy(scene.images[scene.train_indices].mean(axis=0))  # (H, W, 3)
    floor = {
        "background_psnr": psnr(torch.ones_like(views), views).mean().item(),
        "mean_image_psnr": psnr(mean_image.expand_as(views), views).mean().item(),
    }
    return {**floor, "floor_psnr": max(floor.values())}


def write_scene_floor(scene_dir: str | os.PathLike) -> Path:
    """Store :func:`compute_scene_floor` in the scene folder (:data:`FLOOR_FILE`); returns the file."""
    return atomic_write_json(Path(scene_dir) / FLOOR_FILE, compute_scene_floor(scene_dir))


def scene_floor(scene_dir: str | os.PathLike) -> dict[str, float]:
    """A scene's failure floor: stored with the scene (:data:`FLOOR_FILE`), else computed (scenes written before the
    floor was stored, captures from elsewhere)."""
    path = Path(scene_dir) / FLOOR_FILE
    if path.is_file():
        try:
            floor = json.loads(path.read_text())
            return {key: float(floor[key]) for key in ("background_psnr", "mean_image_psnr", "floor_psnr")}
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"igae: {path} is not a valid floor file ({error}); delete it and it is recomputed"
            ) from error
    return compute_scene_floor(scene_dir)
