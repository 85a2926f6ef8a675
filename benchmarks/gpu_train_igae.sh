#!/bin/bash
# Train the IG-AE and its control at the paper's epoch counts on a GPU machine without network, through the train_igae
# rule's own function (benchmarks/igae_recipe.py -> igae.ae.kinds.igae.train_igae_job), then store both as float16
# the way they are shipped (igae store). On an H200 a joint step at batch 12 + 3 took 63 ms (README, "On a GPU"): 75
# joint epochs over the default run's 252 synthetic train views are 1575 steps, ~2 min; the warm-up, 50 epochs at 32.
#
# Here (with PyPI):  bash ../shared/gpu/prepare.sh .      (wheels into .whl/, ~30 MB)
#                    .venv/bin/snakemake --cores all resources/scenes/synthetic resources/real/skimage
#                    mkdir -p .gpu_carry && cp -r resources/scenes/synthetic resources/real/skimage .gpu_carry/
# There:             bash benchmarks/gpu_train_igae.sh "$OUT"  (carry .whl and .gpu_carry)
# Then here:         copy $OUT/igae and $OUT/control to assets/autoencoders/ and write the recipe printed in
#                    $OUT/recipe.json into config.yaml (the shipped check refuses any other).
set -u
out=${1:?OUTDIR}; mkdir -p "$out"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
DEV=${DEV:-cuda}   # DEV=cpu SKIP_PIP=1 OVERRIDES='{"warmup_steps": 2, "joint_steps": 2}': a dry rehearsal
OVERRIDES=${OVERRIDES:-'{"warmup_epochs": 50, "warmup_batch_views": 32, "joint_epochs": 75, "batch_views": 12, "batch_real": 3}'}
rm -rf /tmp/site; [ -n "${SKIP_PIP:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
  --target /tmp/site .whl/*.whl > "$out/pip.log" 2>&1 || { echo "pip failed"; tail -5 "$out/pip.log"; }
export PYTHONPATH=/tmp/site:$PWD
C=$PWD/.gpu_carry
for entry in igae control; do
  overrides=$OVERRIDES
  [ $entry = control ] && overrides=$(python3 -c "import json, sys; o = json.loads(sys.argv[1]); o.pop('warmup_epochs', None); o.pop('warmup_batch_views', None); print(json.dumps(o))" "$OVERRIDES")
  python3 benchmarks/igae_recipe.py --entry $entry --overrides "$overrides" --base assets/autoencoders/standard \
    --scenes $C/synthetic --real $C/skimage --out /tmp/$entry --device $DEV > "$out/$entry.log" 2>&1 &
done
wait
for entry in igae control; do
  tail -25 "$out/$entry.log"
  python3 -m igae.cli store /tmp/$entry "$out/$entry" > /dev/null && echo "$entry stored in $out/$entry"
done
python3 -c "import json; print(json.dumps({e: json.load(open(f'$out/{e}/card.json'))['recipe']['training'] for e in ('igae', 'control')}, indent=1))" > "$out/recipe.json"
