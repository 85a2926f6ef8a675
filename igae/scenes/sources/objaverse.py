"""Objaverse objects by uid: the GLB files of the Hugging Face dataset ``allenai/objaverse``, rendered by the mesh
source (:mod:`igae.scenes.sources.mesh`). The paper's held-out evaluation objects are Objaverse objects.

Layout read: ``object-paths.json.gz`` = ``{uid: "glbs/000-023/<uid>.glb"}`` at the repository root; each GLB is then
fetched alone (:mod:`igae.scenes.sources.download`: verified, resumable, fails fast offline).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from igae.scenes.sources.download import ReleaseFile, download_release

DEFAULT_REPO = "allenai/objaverse"
INDEX = "object-paths.json.gz"


def object_paths(cache: Path) -> dict[str, str]:
    """The uid -> GLB path map of a local copy of the index."""
    path = cache / INDEX
    try:
        with gzip.open(path, "rt") as source:
            paths = json.load(source)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"igae: {path} is not a gzipped JSON map uid -> glb path ({error})") from error
    if not isinstance(paths, dict):
        raise ValueError(f"igae: {path} is not a map uid -> glb path")
    return paths


def fetch_objaverse(
    uids: list[str], cache: str | Path, repo: str = DEFAULT_REPO, revision: str = "main", endpoint: str | None = None
) -> list[Path]:
    """Download the GLB of every uid into ``cache`` (keeping the repository's paths); return them in uid order."""
    cache = Path(cache)
    download_release(repo, [ReleaseFile(INDEX)], cache, endpoint, revision)
    paths = object_paths(cache)
    unknown = [uid for uid in uids if uid not in paths]
    if unknown:
        raise ValueError(f"igae: {repo}'s {INDEX} has no object {unknown[:5]}; check the uids")
    return download_release(repo, [ReleaseFile(paths[uid]) for uid in uids], cache, endpoint, revision)
