"""Latent training data: encoded latents as targets, one full latent image per step, cameras scaled exactly."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from nerfstudio.data.datamanagers.base_datamanager import VanillaDataManager, VanillaDataManagerConfig
from nerfstudio.data.datasets.base_dataset import InputDataset
from nerfstudio.model_components.ray_generators import RayGenerator

from igae.ae.autoencoder import LatentNormalizer
from igae.ae.latents import load_latents
from igae.metrics import read_rgb


class LatentDataset(InputDataset):
    """Frames of one scene whose ``image`` is the encoded latent, normalised to [0, 1]: (H/f, W/f, C).

    The cameras are rescaled by ``scale_factor`` = 1/f with nerfstudio's float rescaling (fx, fy, cx, cy times 1/f),
    not with the integer division of the official code. ``rgb(i)`` gives the full-resolution ground truth for the
    RGB alignment stage and for evaluation.
    """

    def __init__(self, dataparser_outputs, scale_factor: float, latents: dict[str, torch.Tensor], normalizer):
        super().__init__(dataparser_outputs, scale_factor)
        data_dir = Path(dataparser_outputs.image_filenames[0]).parent.parent
        self.frame_keys = []
        for filename in dataparser_outputs.image_filenames:
            key = Path(filename).relative_to(data_dir).as_posix()
            if key not in latents:
                raise KeyError(f"no latent for frame {key} in the latents file: was it encoded from another scene?")
            self.frame_keys.append(key)
        # (N, h, w, C) targets in [0, 1]
        self.latents = torch.stack([normalizer.to_unit(latents[k]).permute(1, 2, 0) for k in self.frame_keys])
        height, width = self.latents.shape[1:3]
        expected = (int(self.cameras.height[0]), int(self.cameras.width[0]))
        if (height, width) != expected:
            raise ValueError(f"latents are {height}x{width} but the scaled cameras are {expected[0]}x{expected[1]}")
        self._rgb_cache: dict[int, torch.Tensor] = {}

    def get_data(self, image_idx: int, image_type="float32") -> dict:
        return {"image_idx": image_idx, "image": self.latents[image_idx]}

    def rgb(self, image_idx: int) -> torch.Tensor:
        """(H, W, 3) float32 ground-truth image in [0, 1]."""
        if image_idx not in self._rgb_cache:
            self._rgb_cache[image_idx] = read_rgb(self._dataparser_outputs.image_filenames[image_idx])
        return self._rgb_cache[image_idx]


@dataclass
class LatentDataManagerConfig(VanillaDataManagerConfig):
    """Serves one full latent image per training step (the official ``CustomFullImageDatamanager`` behaviour)."""

    _target: type = field(default_factory=lambda: LatentDataManager)
    latents: Path | None = None
    """Latents file written by ``igae encode`` (filled by the latent pipeline when it encodes on the fly)."""
    latent_scale: float = 0.02
    """Scale of the tanh normaliser (from the autoencoder card)."""
    seed: int = 1234
    """Seed of the order in which training images are cycled (the official seed)."""


class LatentDataManager(VanillaDataManager[LatentDataset]):
    config: LatentDataManagerConfig

    def _dataset(self, split: str) -> LatentDataset:
        outputs = self.train_dataparser_outputs if split == "train" else self.dataparser.get_dataparser_outputs(split)
        latents, _ = load_latents(self.config.latents)
        normalizer = LatentNormalizer(scale=self.config.latent_scale)
        return LatentDataset(outputs, self.config.camera_res_scale_factor, latents, normalizer)

    def create_train_dataset(self) -> LatentDataset:
        return self._dataset("train")

    def create_eval_dataset(self) -> LatentDataset:
        return self._dataset(self.test_split)

    def setup_train(self):
        self.train_ray_generator = RayGenerator(self.train_dataset.cameras.to(self.device))
        self._generator = torch.Generator().manual_seed(self.config.seed)
        self._order: list[int] = []
        height, width = self.train_dataset.latents.shape[1:3]
        rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
        self._pixels = torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=-1)  # (h*w, 2), row-major

    def next_train(self, step: int):
        """All h*w rays of the next training camera, cycling through a shuffled order without replacement."""
        self.train_count += 1
        if not self._order:
            self._order = torch.randperm(len(self.train_dataset), generator=self._generator).tolist()
        image_idx = self._order.pop()
        indices = torch.cat([torch.full((len(self._pixels), 1), image_idx), self._pixels], dim=-1)  # (h*w, 3)
        ray_bundle = self.train_ray_generator(indices.to(self.device))
        latent = self.train_dataset.latents[image_idx]  # (h, w, C)
        batch = {
            "image": latent.reshape(-1, latent.shape[-1]).to(self.device),
            "indices": indices,
            "image_idx": image_idx,
        }
        return ray_bundle, batch
