"""Keep nerfstudio models trainable offline.

Every nerfstudio model builds a torchmetrics LPIPS in ``populate_modules``, which downloads torchvision's AlexNet
and dies with ``URLError`` offline, before training starts. LPIPS there only feeds nerfstudio's own eval logging; our
benchmark metrics come from :mod:`igae.metrics`. While a model is being built and the AlexNet weights are not on
disk, the LPIPS class is replaced by :class:`UnavailableLPIPS`, which returns NaN and says why once.
"""

from __future__ import annotations

import contextlib
import sys
import warnings

import torch
from torch import nn

from igae.metrics import lpips_status


class UnavailableLPIPS(nn.Module):
    """Stands in for LPIPS when its backbone weights are absent: returns NaN, never a number from random weights."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason
        self._warned = False

    def forward(self, *args, **kwargs) -> torch.Tensor:
        if not self._warned:
            warnings.warn(f"LPIPS unavailable, reported as NaN: {self.reason}", stacklevel=2)
            self._warned = True
        return torch.tensor(float("nan"))


@contextlib.contextmanager
def offline_safe_lpips(model_class: type):
    """While building ``model_class``, make its LPIPS an :class:`UnavailableLPIPS` if AlexNet's weights are absent."""
    available, reason = lpips_status()
    if available:
        yield
        return
    import torchmetrics.image.lpip as lpip_module

    modules = [lpip_module] + [sys.modules[c.__module__] for c in model_class.__mro__ if c.__module__ in sys.modules]
    patched = [m for m in modules if hasattr(m, "LearnedPerceptualImagePatchSimilarity")]
    originals = [m.LearnedPerceptualImagePatchSimilarity for m in patched]

    def factory(*args, **kwargs):
        return UnavailableLPIPS(reason)

    for module in patched:
        module.LearnedPerceptualImagePatchSimilarity = factory
    try:
        yield
    finally:
        for module, original in zip(patched, originals, strict=True):
            module.LearnedPerceptualImagePatchSimilarity = original


class OfflineSafeLPIPS:
    """Mixin for a nerfstudio ``Model`` (put it before the model class): ``populate_modules`` runs under
    :func:`offline_safe_lpips`, so a missing LPIPS backbone never stops a model from being built offline."""

    def populate_modules(self):
        with offline_safe_lpips(type(self)):
            super().populate_modules()
