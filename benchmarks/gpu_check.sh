#!/bin/bash
# One run on a GPU machine without network answers the GPU questions of the project (issues 8 and 9):
#   A. a sweep of standard-AE recipes trained at once on the GPU (benchmarks/ae_sweep.py), while nerfacc's CUDA
#      extension builds on the CPU cores with the CUDA 13 hook (igae.nerf.components.nerfacc_cuda13);
#   B. alone on the GPU, in order of priority: gsplat's CUDA build and the splatting rasterizers' parity
#      (benchmarks/splat_parity.py), every method latent and RGB (benchmarks/method_timing.py, instant-ngp first),
#      IG-AE steps at paper sizes (benchmarks/igae_step.py), N concurrent latent fits.
# Phases stop starting work at their deadlines, so the run ends inside the device tool's limit.
#
# Here (with PyPI): bash ../shared/gpu/prepare.sh .   (wheels into .whl/)
#                   mkdir -p .gpu_carry && cp -r WORKDIR/resources/scenes .gpu_carry/   (scenes of the default run)
# There:            bash benchmarks/gpu_check.sh "$OUT"   (carry .whl and .gpu_carry)
set -u
out=${1:?OUTDIR}; mkdir -p "$out"
export PYTHONUNBUFFERED=1 MAX_JOBS=8 HF_HUB_OFFLINE=1 PATH=/usr/local/cuda/bin:$PATH
AE_BUDGET=${AE_BUDGET:-230}            # seconds of training per sweep variant
PHASE_A_END=${PHASE_A_END:-365}        # seconds after start
DEADLINE=${DEADLINE:-545}              # no new phase-B step after this
HARD_END=${HARD_END:-575}              # every step is cut here (the device call's limit is 590 s)
DEV=${DEV:-cuda}                       # DEV=cpu SKIP_PIP=1 SWEEP_ARGS="--step-multiple 2 --probe-steps 2": a dry rehearsal
rm -rf /tmp/site /tmp/w /tmp/logs; W=/tmp/w; L=/tmp/logs; mkdir -p $W $L
pack() { tar czf "$out/logs.tgz.tmp" -C $L . 2>/dev/null && mv "$out/logs.tgz.tmp" "$out/logs.tgz"; }  # after each step
trap pack EXIT
T0=$(date +%s); now() { echo $(( $(date +%s) - T0 )); }; el() { echo "[+$(now)s] $*"; }
[ -n "${SKIP_PIP:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl > $L/pip.log 2>&1 \
  || { el pip failed; tail -5 $L/pip.log; }
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee $L/gpu.txt
python3 -c "import torch, numpy, nerfstudio, diffusers; print('torch', torch.__version__, 'numpy', numpy.__version__, 'cuda', torch.cuda.is_available())" 2>&1 | tail -3
SCENES=$PWD/.gpu_carry/scenes; S=$SCENES/heldout/photo_000; AE=$PWD/assets/autoencoders/standard

# ---- A. AE sweep (GPU) + nerfacc build (CPU) -------------------------------------------------------------------
python3 - > $L/real_images.log 2>&1 <<EOF
import hashlib
from igae.scenes.sources.datasets import build_real_image_set
from igae.scenes.real_images import load_real_images
build_real_image_set({"source": "skimage", "seed": 0}, "$W/real", image_size=128)
for split in ("train", "test"):
    x = ((load_real_images("$W/real", split) + 1) * 127.5).round().byte()
    print(split, tuple(x.shape), hashlib.sha256(x.numpy().tobytes()).hexdigest()[:16])
EOF
cat $L/real_images.log | tail -3; el "real images built"
sweep() { # name overrides_json
  python3 benchmarks/ae_sweep.py --name $1 --overrides "$2" --real $W/real --select-scenes $SCENES/synthetic \
    --out $W/sweep --budget-s $AE_BUDGET --device $DEV ${SWEEP_ARGS:-} > $L/sweep_$1.out 2>&1
}
sweep b32_jitter '{"batch_size": 32, "warmup_steps": 200, "color_jitter": 0.3}' &
sweep b64_jitter '{"batch_size": 64, "warmup_steps": 200, "color_jitter": 0.3}' &
sweep b64_jitter_lr2 '{"batch_size": 64, "warmup_steps": 200, "color_jitter": 0.3, "lr": 0.002}' &
sweep b64_lr2 '{"batch_size": 64, "warmup_steps": 200, "lr": 0.002}' &   # the jitter's ablation
( python3 -m igae.cli encode --autoencoder $AE --scene $S --out $W/z.safetensors --device $DEV > $L/encode.log 2>&1
  el "encoded: $(tail -1 $L/encode.log)"
  python3 -c "import time; from igae.nerf.components.nerfacc_cuda13 import load_nerfacc_cuda; t = time.time(); load_nerfacc_cuda(); print(f'nerfacc CUDA extension built in {time.time() - t:.0f} s')"
  ) > $L/nerfacc_build.log 2>&1 &
while [ $(jobs -r | wc -l) -gt 0 ] && [ $(now) -lt $PHASE_A_END ]; do sleep 5; done
el "phase A over; still running: $(jobs -r | wc -l)"; cat $L/nerfacc_build.log | tail -4
for f in $W/sweep/*/train.log; do cp $f $L/$(basename $(dirname $f)).train.log; done
for f in $W/sweep/*/train.log; do grep "held-out" $f | tail -1 | cut -c1-120; done
for f in $W/sweep/*/result.json; do cat $f; cp $f $L/$(basename $(dirname $f)).result.json; done
best=$(python3 -c "
import json, glob
rows = [json.load(open(f)) for f in glob.glob('$W/sweep/*/result.json')]
print(max(rows, key=lambda r: r['score'])['name'] if rows else '')")
if [ -n "$best" ]; then
  tar czf $W/ae_best.tgz -C $W/sweep/$best autoencoder reconstruction.json result.json
  split -b 15M -d $W/ae_best.tgz $out/ae_${best}.tgz.part
  el "best AE: $best ($(du -h $W/ae_best.tgz | cut -f1))"
fi
jobs -p | xargs -r kill 2>/dev/null; wait 2>/dev/null

# ---- B. alone on the GPU ---------------------------------------------------------------------------------------
step() { # name timeout command...
  local name=$1 limit=$2; shift 2
  if [ $(now) -gt $DEADLINE ]; then el "skip $name (deadline)"; return; fi
  local left=$(( HARD_END - $(now) )); [ $left -lt $limit ] && limit=$left
  timeout $limit "$@" > $L/$name.log 2>&1; el "$name rc=$?"; grep -viE "warn|^\s|^$" $L/$name.log | tail -12; pack
}
timing() { # name methods...
  local name=$1; shift
  step $name 120 python3 benchmarks/method_timing.py --scene $S --latents $W/z.safetensors --autoencoder $AE \
    --device $DEV --methods "$@" --latent-steps 200 --align-steps 50 --rgb-steps 200 --work $W/$name --out $L/$name.csv
}
concurrent() { # n: n latent TensoRF fits at once, as n Snakemake jobs sharing one GPU would run
  rm -rf $W/conc; mkdir -p $W/conc
  trap 'kill $(jobs -p) 2>/dev/null' TERM
  for i in $(seq $1); do
    python3 -m igae.cli fit --space latent --method tensorf --scene $S --out $W/conc/$i --autoencoder $AE \
      --latents $W/z.safetensors --schedule '{"latent_steps":400,"align_steps":50}' --device $DEV > $W/conc/$i.log 2>&1 &
  done
  wait
  python3 -c "
import json, glob
runs = [json.load(open(f)) for f in glob.glob('$W/conc/*/timing.json')]
print(json.dumps({'n': $1, 'finished': len(runs), 'timing': runs}))"
}
export -f concurrent; export W S AE DEV
step splat_parity 240 env TORCH_CUDA_ARCH_LIST=9.0 python3 benchmarks/splat_parity.py --out $L/splat_parity.json
timing method_timing_a instant-ngp tensorf
step igae_step_fp32 75 python3 benchmarks/igae_step.py --device $DEV --autoencoder $AE --steps 15 --out $L/igae_step_fp32.json
step concurrent_1 60 bash -c 'concurrent 1'
step concurrent_4 70 bash -c 'concurrent 4'
step igae_step_amp 75 python3 benchmarks/igae_step.py --device $DEV --autoencoder $AE --steps 15 --amp --out $L/igae_step_amp.json
step concurrent_8 80 bash -c 'concurrent 8'
timing method_timing_b kplanes nerfacto vanilla-nerf
el end
