#!/usr/bin/env bash
# Time a cold run of a configuration (set-up excluded), in a fresh working directory.
# Usage: bash benchmarks/default_run.sh [workdir] [config]   (defaults: a new temporary directory, config.yaml)
# With UPDATE_README=1 docs/results.md (between its results:begin/end markers) and the README's headline claims
# (headline:begin/end) are regenerated from the run's tables, with the wall time measured here (igae summary), and the
# run's qualitative figure is copied to docs/figures/: the README's numbers are never copied by hand.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
workdir=${1:-$(mktemp -d)}
mkdir -p "$workdir"
cp "$repo/${2:-config.yaml}" "$workdir/config.yaml"
ln -sfn "$repo/assets" "$workdir/assets"
start=$(date +%s)
"$repo/.venv/bin/snakemake" -s "$repo/Snakefile" -d "$workdir" --configfile "$workdir/config.yaml" --cores all \
  > "$workdir/snakemake.log" 2>&1
end=$(date +%s)
echo "${2:-config.yaml}: $((end - start)) s wall on $(nproc) cores, in $workdir"
for table in ae_reconstruction latent_nvs timing; do
  echo "== $table"; cut -d, -f1-12 "$workdir/results/tables/$table.csv"
done
readme=()
[ "${UPDATE_README:-0}" = 1 ] && readme=(--readme "$repo/docs/results.md" --headline "$repo/README.md")
"$repo/.venv/bin/igae" summary --tables "$workdir/results/tables" --out "$workdir/summary.md" \
  --wall-seconds $((end - start)) --config "${2:-config.yaml}" "${readme[@]}"
if [ "${UPDATE_README:-0}" = 1 ]; then
  mkdir -p "$repo/docs/figures" && cp "$workdir/results/figures/qualitative.png" "$repo/docs/figures/qualitative.png"
fi
