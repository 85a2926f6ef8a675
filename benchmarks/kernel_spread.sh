#!/usr/bin/env bash
# How far PyTorch's CPU kernel path moves the benchmark's numbers on one machine: the same fits of the default
# configuration (one held-out scene: latent TensoRF with the standard AE and the IG-AE, RGB TensoRF), each run by the
# workflow itself in a fresh directory under ATEN_CPU_CAPABILITY = default (no vector kernels), avx2, avx512, and
# avx512 a second time (same machine, same path: is it bit-identical?). Paths the CPU lacks are skipped.
# Usage: bash benchmarks/kernel_spread.sh [workdir] [scene]     (defaults: a new temporary directory, photo_002)
# Nothing else should run meanwhile only for the timings; the numbers do not depend on load.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
workdir=${1:-$(mktemp -d)}
scene=${2:-photo_002}
seed=$(sed -n 's/^  seeds: \[\([0-9]*\).*/\1/p' "$repo/config.yaml")
targets=(
  "results/runs/latent/standard/tensorf/heldout/$scene/seed$seed"
  "results/runs/latent/igae/tensorf/heldout/$scene/seed$seed"
  "results/runs/rgb/tensorf/heldout/$scene/seed$seed"
)
flags=$(grep -m1 '^flags' /proc/cpuinfo)
runs=()
for capability in default avx2 avx512 avx512; do
  case $capability in
    avx2) grep -qw avx2 <<<"$flags" || continue ;;
    avx512) grep -qw avx512f <<<"$flags" || continue ;;
  esac
  run="$capability"
  [[ " ${runs[*]-} " == *" $run "* ]] && run="${capability}_again"
  runs+=("$run")
  dir="$workdir/$run"
  mkdir -p "$dir"
  cp "$repo/config.yaml" "$dir/config.yaml"
  ln -sfn "$repo/assets" "$dir/assets"
  start=$(date +%s)
  ATEN_CPU_CAPABILITY=$capability "$repo/.venv/bin/snakemake" -s "$repo/Snakefile" -d "$dir" \
    --configfile "$dir/config.yaml" --cores all "${targets[@]}" > "$dir/snakemake.log" 2>&1
  echo "$run: $(( $(date +%s) - start )) s"
done
"$repo/.venv/bin/python" - "$workdir" "${runs[@]}" "${targets[@]}" <<'EOF'
"""Per fit and kernel path: the decoded PSNR, the last curve point, the path recorded in metrics.json's provenance,
and the difference to the first path; then whether the repeated path is bit-identical (every metric and render)."""
import hashlib
import json
import sys
from pathlib import Path

workdir, args = Path(sys.argv[1]), sys.argv[2:]
runs, targets = [a for a in args if not a.startswith("results/")], [a for a in args if a.startswith("results/")]


def read(run: str, target: str) -> dict:
    metrics = json.loads((workdir / run / target / "metrics.json").read_text())
    renders = (workdir / run / target / "renders" / "eval.safetensors").read_bytes()
    return {
        "psnr": metrics["mean"]["psnr"],
        "curve": metrics["curve"][-1]["psnr"],
        "aten_cpu": metrics["provenance"]["host"]["aten_cpu"],
        "renders_sha256": hashlib.sha256(renders).hexdigest()[:12],
    }


print(f"| fit | {' | '.join(runs)} | max - min |")
print(f"|---|{'---|' * len(runs)}---|")
for target in targets:
    rows = [read(run, target) for run in runs]
    cells = [f"{row['psnr']:.3f} ({row['aten_cpu']})" for row in rows]
    spread = max(row["psnr"] for row in rows) - min(row["psnr"] for row in rows)
    print(f"| {'/'.join(target.split('/')[2:4])} | {' | '.join(cells)} | {spread:.3f} dB |")
for run in runs:
    if run.endswith("_again"):
        first = run.removesuffix("_again")
        same = all(read(first, t) == read(run, t) for t in targets)
        print(f"{first} twice: {'bit-identical renders and metrics' if same else 'DIFFERENT'}")
EOF
