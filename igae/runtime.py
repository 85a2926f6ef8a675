"""Process set-up shared by the CLI and the workflow scripts: device choice, threads, logging to a file."""

from __future__ import annotations

import contextlib
import sys
import traceback
from pathlib import Path

import torch


def resolve_device(name: str = "auto") -> str:
    """ "auto" -> "cuda" when a GPU is visible, else "cpu"; "cuda" without a GPU is an error, not a silent CPU run."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but no CUDA device is visible; use device: auto or cpu")
    return name


@contextlib.contextmanager
def logged_job(log_path: str | Path | None, threads: int = 1):
    """Send stdout and stderr to ``log_path`` and give torch ``threads`` CPU threads, for one workflow job.

    An exception leaving the job is written to the log (its traceback) before it propagates, so the log that Snakemake
    points to says why the job failed.
    """
    torch.set_num_threads(max(1, threads))
    if log_path is None:
        yield print
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", buffering=1) as log_file:
        old = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = log_file
        try:
            yield lambda message: print(message, flush=True)
        except BaseException:
            traceback.print_exc(file=log_file)
            log_file.flush()
            raise
        finally:
            sys.stdout, sys.stderr = old
