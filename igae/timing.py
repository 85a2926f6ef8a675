"""Wall-clock timing and peak memory, synchronised with the accelerator.

What the benchmark reports (``timing.json`` of a run folder, see :mod:`igae.report.tables`):

- train time = the sum of per-iteration wall times (:class:`IterationTimer`), excluding set-up, evaluation and I/O;
- render and decode time per view = the median over ``repeats`` calls after ``warmup`` calls (:func:`median_time_ms`);
- peak memory = CUDA max allocated on a GPU, the process' max resident set size on the CPU (:func:`peak_memory_mb`).

On CUDA every measurement synchronises before reading the clock, so queued kernels are counted where they run.

Every ``timing.json`` names the device it was measured on (:func:`device_label`: ``cpu`` or ``cuda:<GPU name>``);
times are only compared between runs of the same device.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

UNKNOWN_DEVICE = "unknown"
"""The device of a run that recorded none (see :func:`device_from_description`); never paired with another run."""


def device_label(device: torch.device | str) -> str:
    """``cpu``, or ``cuda:<GPU name>`` (e.g. ``cuda:NVIDIA H200``): the device a timing was measured on.

    The GPU's name, not its index, so that runs on two GPUs of one model compare and runs on two models do not.
    """
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{torch.cuda.get_device_name(index)}"
    return device.type


def device_from_description(description: str | None) -> str:
    """:func:`device_label` from a provenance ``device`` string (:func:`igae.provenance.describe_device`).

    ``"cpu (x86_64, 2 threads)"`` -> ``cpu``; ``"cuda:0 (NVIDIA H200)"`` -> ``cuda:NVIDIA H200``; None or anything
    else -> :data:`UNKNOWN_DEVICE`. For run folders written before timing.json recorded its device.
    """
    if not isinstance(description, str):
        return UNKNOWN_DEVICE
    kind, _, detail = description.partition(" (")
    if kind.startswith("cuda") and detail.endswith(")"):
        return f"cuda:{detail[:-1]}"
    return kind if kind in ("cpu", "mps") else UNKNOWN_DEVICE


def synchronize(device: torch.device | str) -> None:
    """Wait for every queued kernel on ``device`` (CUDA); nothing to wait for on the CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class IterationTimer:
    """Sums the wall time of training iterations, per stage.

    Usage::

        timer = IterationTimer(device)
        for step in range(steps):
            with timer.iteration("latent"):
                trainer.train_iteration(step)
        timer.total_seconds, timer.iterations, timer.stage_seconds  # 12.3, 100, {"latent": 12.3}
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.stage_seconds: dict[str, float] = {}
        """Summed iteration wall time of each stage, in seconds, in the order stages first ran."""
        self.stage_iterations: dict[str, int] = {}
        """Number of timed iterations of each stage."""

    @contextmanager
    def iteration(self, stage: str = "train") -> Iterator[None]:
        """Time one iteration of ``stage``: synchronised at start and end, added to the stage's sum."""
        synchronize(self.device)
        start = time.perf_counter()
        yield
        synchronize(self.device)
        elapsed = time.perf_counter() - start
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + elapsed
        self.stage_iterations[stage] = self.stage_iterations.get(stage, 0) + 1

    @property
    def total_seconds(self) -> float:
        """Summed wall time of all timed iterations (seconds)."""
        return sum(self.stage_seconds.values())

    @property
    def iterations(self) -> int:
        """Number of timed iterations, all stages together."""
        return sum(self.stage_iterations.values())

    def as_dict(self) -> dict[str, Any]:
        """The training part of ``timing.json``: train_seconds, iterations, stage_seconds."""
        return {"train_seconds": self.total_seconds, "iterations": self.iterations, "stage_seconds": self.stage_seconds}


def median_time_ms(
    fn: Callable[[], Any], warmup: int = 2, repeats: int = 5, device: torch.device | str = "cpu"
) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``repeats`` synchronised calls, after ``warmup`` calls."""
    if repeats < 1:
        raise ValueError(f"igae.timing: median_time_ms needs repeats >= 1; got {repeats}")
    for _ in range(warmup):
        fn()
    synchronize(device)
    times_ms = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times_ms.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times_ms)


def reset_peak_memory(device: torch.device | str) -> None:
    """Start a new CUDA peak-memory window (the CPU's max RSS cannot be reset: it is the whole process' peak)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device | str) -> float | None:
    """Peak memory in MiB: CUDA max allocated since the last reset, or the process' max RSS on the CPU.

    None when the platform reports neither.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (AttributeError, OSError):
        return None
    bytes_per_unit = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux kibibytes
    return max_rss * bytes_per_unit / 2**20
