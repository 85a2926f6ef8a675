#!/usr/bin/env bash
# Time the mesh source: one scene (24 views at 128 px, 2x2 supersampling, lit) of each mesh pymeshlab ships that we
# test on, then of the meshes tests/test_mesh.py writes (textured OBJ + MTL + PNG, white OBJ, geometry-only OBJ of 15
# objects, PLY), lit and unlit, with the brightness ratio (mean foreground / albedo) of the two spheres.
# Usage: bash benchmarks/mesh_render.sh [workdir]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
workdir=${1:-$(mktemp -d)}
samples=$("$repo/.venv/bin/python" -c "import pymeshlab, pathlib; print(pathlib.Path(pymeshlab.__file__).parent / 'tests/sample_meshes')")
for mesh in bunny10k_textured.obj colored_airplane.ply; do
  start=$(date +%s.%N)
  "$repo/.venv/bin/igae" mesh-scenes "$samples/$mesh" --out "$workdir/$mesh" > /dev/null 2>&1
  end=$(date +%s.%N)
  echo "$mesh: $(echo "$end - $start" | bc) s for one scene of 24 views at 128 px (process start included)"
done
cd "$repo/tests" && "$repo/.venv/bin/python" - "$workdir" <<'PY'
import sys, time
from pathlib import Path
import numpy as np
from test_mesh import YELLOW, sphere_masks, write_parts_obj, write_parts_ply, write_textured_obj, write_white_obj
from igae.scenes.dataset_io import load_scene
from igae.scenes.mesh import MeshSceneConfig, build_mesh_dataset

work = Path(sys.argv[1]) / "written"
work.mkdir(parents=True, exist_ok=True)
albedo = {"textured_ball": np.asarray(YELLOW) / 255.0, "white_ball": np.ones(3)}
for write in (write_textured_obj, write_white_obj, write_parts_obj, write_parts_ply):
    mesh = write(work)
    for shading in ("lit", "unlit"):
        config = MeshSceneConfig(up_axis="z", shading=shading)  # 24 views at 128 px, 2x2 supersampling
        start = time.perf_counter()
        (folder,) = build_mesh_dataset(work / f"{mesh.suffix[1:]}_{shading}", [mesh], config)
        line = f"{mesh.name} ({shading}): {time.perf_counter() - start:.1f} s for 24 views at 128 px"
        if mesh.stem in albedo:
            scene = load_scene(folder)
            pixels = scene.images[sphere_masks(scene)]  # (N, 3)
            line += f"; mean foreground {np.round(pixels.mean(0) * 255).astype(int).tolist()}, "
            line += f"{pixels.mean() / albedo[mesh.stem].mean():.2f} x the albedo"
        print(line, flush=True)
PY
