#!/usr/bin/env bash
# Time the mesh source: one scene (24 views at 128 px, 2x2 supersampling) of each mesh pymeshlab ships that we test on.
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
