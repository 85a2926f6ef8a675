"""Latent training data for models that render whole cameras (Gaussian splatting): a camera and its latent image."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from igae.nerf.data.ray_datamanager import LatentDataManager, LatentDataManagerConfig


@dataclass
class LatentCameraDataManagerConfig(LatentDataManagerConfig):
    """Serves one training camera (scaled to the latent resolution) and its whole encoded latent per step, in the
    order :class:`LatentDataManager` cycles its images: what nerfstudio's ``FullImageDatamanager`` is to RGB."""

    _target: type = field(default_factory=lambda: LatentCameraDataManager)


class LatentCameraDataManager(LatentDataManager):
    config: LatentCameraDataManagerConfig

    def setup_train(self):
        self._generator = torch.Generator().manual_seed(self.config.seed)
        self._order: list[int] = []

    def next_train(self, step: int):
        """The next training camera (1,) and {"image": (h, w, C) latent in [0, 1], "image_idx"}, cycling through a
        shuffled order without replacement (the same order as the ray-bundle latent datamanager's)."""
        self.train_count += 1
        if not self._order:
            self._order = torch.randperm(len(self.train_dataset), generator=self._generator).tolist()
        image_idx = self._order.pop()
        camera = self.train_dataset.cameras[image_idx : image_idx + 1].to(self.device)
        return camera, {"image": self.train_dataset.latents[image_idx].to(self.device), "image_idx": image_idx}
