#!/bin/bash
# Here, with PyPI: download the wheels that benchmarks/gpu_run.sh installs on a GPU machine without network (Python
# 3.12, torch + CUDA preinstalled, no Snakemake, no nerfstudio), into .whl/ at the repository root, git-ignored
# through .git/info/exclude. Each is pinned to the version .venv holds (envs/requirements.txt's resolution).
#
# Usage: bash benchmarks/gpu_wheels.sh [DEST]     (default DEST: .whl/; PYVER=3.12 the target Python)
#
# What is carried (../shared/gpu/README.md lists what the GPU machine already has, and the traps):
# - NERF: what nerfstudio 1.1.5 and the project import there and the machine lacks (../shared/gpu/prepare.sh's list,
#   proven on an H200). Not huggingface_hub 2.x (nor httpx2, httpcore2, hf-xet): the machine's peft/transformers
#   refuse it; its huggingface_hub 1.33 satisfies diffusers 0.42.1.
# - SMK: Snakemake 9.27.1 and its requirements, except what torch, transformers and peft there require (Jinja2,
#   MarkupSafe, PyYAML, psutil) and PuLP (16 MB of bundled solvers: gpu_run.sh runs Snakemake's greedy scheduler,
#   --scheduler greedy, which needs none). requests and its four, packaging and typing_extensions are carried too
#   (0.5 MB): gpu_run.sh installs them only where the machine lacks them or has a version a carried wheel refuses.
# Two wheels are pruned of files nothing imports (the wheel's RECORD rewritten): tensorly's example datasets
# (tensorly/datasets/data/*.npy, 12.8 MB) and the GLM manual inside gsplat (gsplat/cuda/csrc/third_party/glm/doc/).
# connection_pool 0.0.3 has no wheel on PyPI: it is built here from its sdist (pure Python, py3-none-any).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$repo/.whl}
pyver=${PYVER:-3.12}
py=${VENV_PY:-$repo/.venv/bin/python}
mkdir -p "$dest"
exclude="$repo/.git/info/exclude"
if [ -d "$repo/.git" ] && [ "$dest" = "$repo/.whl" ]; then
  mkdir -p "$(dirname "$exclude")"
  grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"
fi

NERF=(appdirs defusedxml diffusers dill docstring_parser gsplat msgspec nerfacc nerfstudio PySocks pyquaternion
      pytorch-msssim rawpy splines tensorly truststore tyro viser websockets typeguard importlib_metadata zipp)
SMK=(snakemake platformdirs immutables ConfigArgParse connection_pool docutils GitPython gitdb smmap humanfriendly
     jsonschema attrs jsonschema-specifications referencing rpds-py nbformat fastjsonschema jupyter_core traitlets
     tenacity smart_open wrapt snakemake-interface-executor-plugins argparse-dataclass snakemake-interface-common
     throttler snakemake-interface-storage-plugins snakemake-interface-report-plugins snakemake-interface-logger-plugins
     snakemake-interface-scheduler-plugins tabulate yte dpath conda-inject sqlmodel SQLAlchemy greenlet pydantic
     pydantic_core annotated-types typing-inspection lazy-importer requests charset_normalizer idna urllib3 certifi
     packaging typing_extensions)

# name==version as .venv has it
mapfile -t pins < <("$py" - "${NERF[@]}" "${SMK[@]}" <<'EOF'
import importlib.metadata as md, sys
for name in sys.argv[1:]:
    print(f"{name}=={md.version(name)}")
EOF
)
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
           --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64
           --platform manylinux1_x86_64)
for pin in "${pins[@]}"; do
  if ! "$py" -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
      "${platforms[@]}" -d "$dest" "$pin" 2> /tmp/gpu_wheels.err; then
    # no wheel on PyPI: build one from the sdist; only a pure-Python wheel can serve another Python
    "$py" -m pip wheel -q --no-deps --no-binary=:all: -w "$dest" "$pin" 2>> /tmp/gpu_wheels.err
    name=${pin%%==*}
    ls "$dest" | grep -i "^${name//-/_}-.*-py3-none-any.whl$" > /dev/null \
      || { echo "gpu_wheels: $pin has no wheel and its sdist did not build a pure-Python one" >&2; exit 1; }
  fi
done

"$py" - "$dest" <<'EOF'
"""Prune two wheels of data nothing imports, then write MANIFEST.tsv (file, bytes, sha256)."""
import base64, csv, hashlib, io, sys, zipfile
from pathlib import Path

dest = Path(sys.argv[1])
PRUNE = {"tensorly-": "tensorly/datasets/data/", "gsplat-": "gsplat/cuda/csrc/third_party/glm/doc/"}
for wheel in sorted(dest.glob("*.whl")):
    prefix = next((p for name, p in PRUNE.items() if wheel.name.startswith(name)), None)
    if prefix is None:
        continue
    with zipfile.ZipFile(wheel) as source:
        names = source.namelist()
        if not any(name.startswith(prefix) for name in names):
            continue  # pruned before
        record_name = next(name for name in names if name.endswith(".dist-info/RECORD"))
        kept = [name for name in names if not name.startswith(prefix) and name != record_name]
        tmp = wheel.with_suffix(".tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
            rows = []
            for name in kept:
                data = source.read(name)
                target.writestr(source.getinfo(name), data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                rows.append([name, f"sha256={digest}", str(len(data))])
            rows.append([record_name, "", ""])
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(rows)
            target.writestr(record_name, out.getvalue())
    tmp.replace(wheel)
    print(f"pruned {wheel.name}: {prefix}*")
with open(dest / "MANIFEST.tsv", "w") as manifest:
    total = 0
    for wheel in sorted(dest.glob("*.whl")):
        size = wheel.stat().st_size
        total += size
        manifest.write(f"{wheel.name}\t{size}\t{hashlib.sha256(wheel.read_bytes()).hexdigest()}\n")
print(f"{len(list(dest.glob('*.whl')))} wheels, {total / 2**20:.1f} MiB in {dest}")
EOF
