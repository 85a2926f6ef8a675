#!/bin/bash
# Run a configuration's whole workflow on a GPU machine that has Python, torch and CUDA but no network, stop cleanly
# before a deadline, and pack the tables, figures and logs into one archive. A second call resumes: finished jobs are
# kept, the interrupted ones re-run (Snakemake's own incomplete-job handling: the local profile's rerun-incomplete).
#
#   bash benchmarks/gpu_run.sh [--config config/gpu.yaml] [--deadline 570] [--out DIR] [--workdir DIR]
#                              [--wheels .whl] [--python python3] [--drain 90] [--pack 30] [-- SNAKEMAKE_ARGS...]
#
# Here (with PyPI): bash benchmarks/gpu_wheels.sh   (71 wheels into .whl/, 26.9 MiB; carry .whl)
# There:            bash benchmarks/gpu_run.sh --config config/gpu_smoke.yaml --deadline 570 --out "$OUT"
#
# 1. Wheels: each wheel of --wheels whose distribution the machine's Python lacks, or has at another version while
#    envs/requirements.txt pins it (==), or at a version a wheel being installed refuses (its Requires-Dist), is
#    installed with pip --no-index --no-deps into $IGAE_SITE (/tmp/igae_site),
#    put first on PYTHONPATH with the repository root; the others are left to the machine's own (listed in the
#    archive's logs/gpu_run/wheels.tsv). Nothing is installed when everything is there (the local .venv). A site
#    left by an earlier call with the same wheels is reused; any other is deleted first (/tmp may hold another run's
#    packages).
# 2. snakemake --profile workflow/profiles/local --configfile CONFIG --cores all --scheduler greedy (the greedy
#    scheduler needs no PuLP, which the wheels leave out), in --workdir (default: the repository root; another
#    folder gets a link to assets/). On a GPU the rules' GPU shares are set for one H200 (--set-resources; override
#    with LATENT_SHARE, RGB_SHARE, IGAE_SHARE): 12 latent fits at once (8 measured: 2.77x one fit's steps per
#    second), 7 RGB fits, or the IG-AE and the control side by side with a few fits; peak memory per unit of share
#    stays under 1.1 GB (instant-ngp latent 8.7 GB / 8, vanilla-nerf RGB 13.5 GB / 13): under 110 GB of the H200's
#    ~139 GiB. nerfacc's CUDA extension (instant-ngp) is built beside the first jobs, and so is gsplat's (splatfacto,
#    TORCH_CUDA_ARCH_LIST=9.0), followed by benchmarks/splat_parity.py (logs/gpu_run/splat_parity.json).
# 3. Deadline (seconds after the start): at deadline - pack - drain Snakemake gets SIGTERM (it starts no more jobs
#    and waits for the running ones); at deadline - pack - min(15, drain / 2) the jobs still running get SIGINT
#    (Snakemake marks them incomplete), at deadline - pack SIGKILL. A later call unlocks the folder if a lock was
#    left, and re-runs them.
# 4. Finished run folders lose their nerfstudio checkpoints (*.ckpt, nothing downstream reads them; KEEP_CKPT=1 keeps
#    them): config/gpu.yaml's 600 fits would write tens of GB into the machine's 64 GiB disk.
# 5. Archive: OUT/igae_gpu_run.tar.gz (split into 15 MiB parts .part00, .part01, ... when larger): results/tables,
#    results/figures, results/summary.md, results/results.html, each AE's card.json, logs/ (with logs/benchmarks/)
#    and in it logs/gpu_run/: this script's log, Snakemake's, env.json, wheels.tsv, gpu.csv (nvidia-smi every 5 s),
#    status.json, the config. Default OUT: $OUT, else results/gpu_run/ (git-ignored, as logs/).
#
# Exit status: 0 the workflow is complete, 3 stopped by the deadline (call again to resume), 1 an error.
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
config=config/gpu.yaml deadline=570 out=${OUT:-$repo/results/gpu_run} workdir=$repo wheels=$repo/.whl
py=${PYTHON:-python3} drain=${DRAIN:-90} pack_s=${PACK:-30}
while [ $# -gt 0 ]; do
  case $1 in
    --config) config=$2; shift 2 ;;
    --deadline) deadline=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --wheels) wheels=$2; shift 2 ;;
    --python) py=$2; shift 2 ;;
    --drain) drain=$2; shift 2 ;;
    --pack) pack_s=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "gpu_run: unknown option $1 (see the head of $0)" >&2; exit 1 ;;
  esac
done
extra=("$@")
T0=$(date +%s)
now() { echo $(( $(date +%s) - T0 )); }
config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
[ -f "$config" ] || { echo "gpu_run: no config $config" >&2; exit 1; }
mkdir -p "$out" "$workdir"
workdir=$(cd "$workdir" && pwd) out=$(cd "$out" && pwd)
R=$workdir/logs/gpu_run   # this call's runner files (git-ignored; packed with logs/)
rm -rf "$R"; mkdir -p "$R"
log() { echo "[+$(now)s] $*" | tee -a "$R/runner.log"; }
log "config $config, deadline ${deadline}s, workdir $workdir, out $out"
[ "$workdir" != "$repo" ] && [ ! -e "$workdir/assets" ] && ln -s "$repo/assets" "$workdir/assets"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 MAX_JOBS=${MAX_JOBS:-8}
[ -d /usr/local/cuda/bin ] && export PATH=/usr/local/cuda/bin:$PATH

# ---- 1. wheels --------------------------------------------------------------------------------------------------
site=${IGAE_SITE:-/tmp/igae_site}
"$py" - "$wheels" "$repo/envs/requirements.txt" > "$R/wheels.tsv" 2> "$R/wheels_unmet.txt" <<'EOF' \
  || { log "gpu_run: $py cannot read its packages:"; tail -3 "$R/wheels_unmet.txt"; exit 1; }
"""wheel, distribution, carried version, the machine's version, action (install / keep), why."""
import importlib.metadata as md, re, sys, zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name as canon

wheels, requirements = Path(sys.argv[1]), Path(sys.argv[2])
pinned = {canon(m[1]) for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==", requirements.read_text(), re.M)}
carried = {}  # canonical name -> (name, version, wheel)
for wheel in sorted(wheels.glob("*.whl")) if wheels.is_dir() else []:
    name, version = wheel.name.split("-")[:2]
    carried[canon(name)] = (name, version, wheel)


def machine(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def requires(wheel):
    """Requirements of a wheel (Requires-Dist of its METADATA), markers evaluated here, extras left out."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            text = archive.read(meta).decode()
    except (zipfile.BadZipFile, StopIteration):
        return []  # not a wheel to open (a name only): nothing to check
    out = []
    for line in re.findall(r"^Requires-Dist: (.+)$", text, re.M):
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            out.append(req)
    return out


why = {}
for key, (name, version, _) in carried.items():
    have = machine(name)
    if have is None:
        why[key] = "missing here"
    elif have != version and key in pinned:
        why[key] = f"envs/requirements.txt pins {version}"
unmet = []
changed = True
while changed:  # what the wheels to install require: carried when the machine's is missing or refused
    changed = False
    for key in list(why):
        for req in requires(carried[key][2]):
            dep = canon(req.name)
            if dep in why:
                continue
            have = machine(req.name)
            if have is not None and req.specifier.contains(have, prereleases=True):
                continue
            if dep in carried and req.specifier.contains(carried[dep][1], prereleases=True):
                why[dep] = f"{carried[key][0]} needs {req}, here {have or 'missing'}"
                changed = True
            else:
                carried_version = carried.get(dep, ("", "-"))[1]
                unmet.append(f"{carried[key][0]} needs {req}, here {have or 'missing'}, carried {carried_version}")
for key, (name, version, wheel) in carried.items():
    action = "install" if key in why else "keep"
    print(f"{wheel}\t{name}\t{version}\t{machine(name) or '-'}\t{action}\t{why.get(key, 'present')}")
for line in dict.fromkeys(unmet):  # each once (the loop above may pass a wheel twice)
    print(f"unmet: {line}", file=sys.stderr)
EOF
[ -s "$R/wheels_unmet.txt" ] && log "wheels: requirements neither here nor carried (jobs may fail):" \
  && sed 's/^/  /' "$R/wheels_unmet.txt" | tee -a "$R/runner.log"
mapfile -t todo < <(awk -F'\t' '$5 == "install" {print $1}' "$R/wheels.tsv")
stamp=$( (printf '%s\n' "${todo[@]}" | xargs -r -n1 basename; "$py" -V) | sha256sum | cut -c1-16)
if [ ${#todo[@]} -eq 0 ]; then
  log "wheels: nothing to install ($(wc -l < "$R/wheels.tsv") carried, all present)"
  site=
elif [ "$(cat "$site/.igae_stamp" 2>/dev/null)" = "$stamp" ]; then
  log "wheels: ${#todo[@]} installed by an earlier call, reused from $site"
else
  rm -rf "$site"
  if ! "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "${todo[@]}" \
      > "$R/pip.log" 2>&1; then
    log "gpu_run: pip failed to install the wheels:"; tail -5 "$R/pip.log"; exit 1
  fi
  echo "$stamp" > "$site/.igae_stamp"
  log "wheels: installed ${#todo[@]} into $site (kept the machine's for $(grep -c 'keep$' "$R/wheels.tsv"))"
fi
export PYTHONPATH=${site:+$site:}$repo${PYTHONPATH:+:$PYTHONPATH}
"$py" - "$config" > "$R/env.json" 2> "$R/env.err" <<'EOF' || { log "gpu_run: the environment is incomplete:"; tail -3 "$R/env.err"; exit 1; }
import importlib.metadata as md, json, platform, sys
import importlib.util
import torch, yaml
# what the jobs import beside torch, found (not imported: nerfstudio alone takes ~15 s)
missing = [m for m in ("diffusers", "nerfacc", "nerfstudio", "skimage", "sklearn", "snakemake")
           if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"gpu_run: no {', '.join(missing)}: neither the machine nor the carried wheels have it")
config = yaml.safe_load(open(sys.argv[1]))
methods = {*config["benchmark"]["methods"], *config["benchmark"].get("ablation", {}).get("methods", [])}
print(json.dumps({
    "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.cuda.is_available(),
    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    "versions": {name: md.version(name) for name in ("snakemake", "nerfstudio", "nerfacc", "diffusers", "numpy")},
    "instant_ngp": "instant-ngp" in methods, "splatfacto": "splatfacto" in methods,
}))
EOF
cuda=$("$py" -c "import json, sys; print(int(json.load(open(sys.argv[1]))['cuda']))" "$R/env.json")
ingp=$("$py" -c "import json, sys; print(int(json.load(open(sys.argv[1]))['instant_ngp']))" "$R/env.json")
splat=$("$py" -c "import json, sys; print(int(json.load(open(sys.argv[1]))['splatfacto']))" "$R/env.json")
log "environment: $(cat "$R/env.json")"

# ---- 2. the workflow --------------------------------------------------------------------------------------------
sm=("$py" -m snakemake -s "$repo/Snakefile" -d "$workdir" --configfile "$config")
if [ -n "$(ls -A "$workdir/.snakemake/locks" 2>/dev/null)" ]; then
  log "a lock left by an earlier call: snakemake --unlock"
  "${sm[@]}" --unlock > "$R/unlock.log" 2>&1 || { log "gpu_run: --unlock failed"; tail -5 "$R/unlock.log"; }
fi
run=("${sm[@]}" --profile "$repo/workflow/profiles/local" --cores all --scheduler greedy)
if [ "$cuda" = 1 ]; then
  run+=(--set-resources "fit_latent_nerf:gpu_share=${LATENT_SHARE:-8}" "fit_rgb_nerf:gpu_share=${RGB_SHARE:-13}"
        "train_igae:gpu_share=${IGAE_SHARE:-35}")
  if [ "$ingp" = 1 ]; then   # nerfacc's CUDA extension, once per machine (torch's extension cache, a file lock)
    build_py="import time; from igae.nerf.components.nerfacc_cuda13 import load_nerfacc_cuda; t = time.time()
load_nerfacc_cuda(); print(f'nerfacc built or loaded in {time.time() - t:.0f} s')"
    "$py" -c "$build_py" > "$R/nerfacc_build.log" 2>&1 &
    build=$!
  fi
  if [ "$splat" = 1 ]; then   # gsplat's CUDA extension for sm_90 (one build under a file lock: jobs that need it
    # first wait), then both splatting rasterizers on the same Gaussians (max abs differences of images, gradients)
    export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
    "$py" "$repo/benchmarks/splat_parity.py" --out "$R/splat_parity.json" > "$R/splat_parity.log" 2>&1 &
    parity=$!
  fi
  if command -v nvidia-smi > /dev/null; then
    ( echo "t_s,utilization_gpu_pct,memory_used_mib"
      while sleep 5; do
        echo "$(now),$(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits | head -1 | tr -d ' ')"
      done
    ) > "$R/gpu.csv" 2>/dev/null &
    sampler=$!
  fi
fi
int_s=$(( drain / 2 < 15 ? drain / 2 : 15 ))
stop_at=$(( deadline - pack_s - drain )) cancel_at=$(( deadline - pack_s - int_s )) kill_at=$(( deadline - pack_s ))
log "snakemake starts; no new job after +${stop_at}s, running jobs cancelled at +${cancel_at}s"
echo "${run[*]} ${extra[*]}" > "$R/command.txt"
set -m   # Snakemake in its own process group: its jobs can be signalled with it, not this script
"${run[@]}" "${extra[@]}" > "$R/snakemake.log" 2>&1 &
pid=$!
set +m
prune() {  # finished run folders only (a running fit writes into its .seedN.tmp-* folder)
  [ -n "${KEEP_CKPT:-}" ] || find "$workdir/results/runs" -name '*.ckpt' -path '*/nerfstudio/*' -not -path '*.tmp-*' \
    -delete 2>/dev/null
}
stopped=
while kill -0 $pid 2>/dev/null; do
  t=$(now)
  if [ -z "$stopped" ] && [ $t -ge $stop_at ]; then
    log "deadline: SIGTERM to Snakemake (no new jobs; the running ones finish)"; kill -TERM $pid; stopped=term
  elif [ "$stopped" = term ] && [ $t -ge $cancel_at ]; then
    log "deadline: SIGINT to the running jobs"; kill -INT -- -$pid 2>/dev/null; stopped=int
  elif [ "$stopped" = int ] && [ $t -ge $kill_at ]; then
    log "deadline: SIGKILL"; kill -KILL -- -$pid 2>/dev/null; stopped=kill
  fi
  prune; sleep 2
done
wait $pid; rc=$?
prune
[ -n "${build:-}" ] && { kill $build 2>/dev/null; wait $build 2>/dev/null; }
[ -n "${parity:-}" ] && { kill $parity 2>/dev/null; wait $parity 2>/dev/null; }
[ -n "${sampler:-}" ] && { kill $sampler 2>/dev/null; wait $sampler 2>/dev/null; }
progress=$(grep -E '^[0-9]+ of [0-9]+ steps' "$R/snakemake.log" | tail -1)
complete=0   # every job done: a 100 % progress line, or nothing left to do (a SIGTERM may come as the last job runs)
if [ $rc -eq 0 ] && { [[ $progress == *"(100%) done"* ]] || grep -q "Nothing to be done" "$R/snakemake.log"; }; then
  complete=1
fi
log "snakemake ended: rc=$rc${stopped:+, stopped by the deadline ($stopped)}; ${progress:-no job finished}"
[ $rc -ne 0 ] && [ -z "$stopped" ] && grep -E "^Error in rule|Exception|Error:" "$R/snakemake.log" | head -5

# ---- 3. archive -------------------------------------------------------------------------------------------------
"$py" - "$R/status.json" <<EOF
import json
json.dump({"complete": bool($complete), "snakemake_rc": $rc, "stopped_by_deadline": "${stopped}" or None,
           "progress": "${progress}", "elapsed_s": $(now), "deadline_s": $deadline,
           "config": "$config"}, open("$R/status.json", "w"), indent=1)
EOF
cp "$config" "$R/config.yaml"
rm -f "$out"/igae_gpu_run.tar.gz*
( cd "$workdir" && find results/tables results/figures results/summary.md results/results.html \
      results/autoencoders/*/card.json logs -maxdepth 0 2>/dev/null
  [ -d benchmarks ] && find benchmarks -name '*.tsv' -not -path 'benchmarks/measured/*' 2>/dev/null
) > "$R/packed.txt"
tar czf "$out/igae_gpu_run.tar.gz" -C "$workdir" -T "$R/packed.txt"
size=$(stat -c %s "$out/igae_gpu_run.tar.gz")
if [ "$size" -gt $(( 15 * 1024 * 1024 )) ]; then
  split -b 15M -d "$out/igae_gpu_run.tar.gz" "$out/igae_gpu_run.tar.gz.part" && rm "$out/igae_gpu_run.tar.gz"
  log "archive: $(( size / 1048576 )) MiB in $(ls "$out"/igae_gpu_run.tar.gz.part* | wc -l) parts (cat them, then tar xzf)"
else
  log "archive: $out/igae_gpu_run.tar.gz ($(( size / 1024 )) KiB)"
fi
[ $complete = 1 ] && exit 0
[ -n "$stopped" ] && { log "not complete: call again to resume"; exit 3; }
exit 1
