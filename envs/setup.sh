#!/usr/bin/env bash
# Create (or update) the virtual environment .venv/ in the repository root from the project's pinned files.
# Idempotent: a venv already built from the same envs/requirements.txt is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
# System packages first (envs/apt-packages.txt): installed when missing and we are root, else named.
packages=$(sed -e 's/#.*//' envs/apt-packages.txt | xargs)
missing=$(for p in $packages; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"; done | xargs)
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "envs/setup.sh: installing Debian packages: $missing"
    apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing > /tmp/igae-apt.log 2>&1; }
    apt_install || { apt-get update -q > /dev/null 2>&1 && apt_install; } || { cat /tmp/igae-apt.log >&2; exit 1; }
  else
    echo "envs/setup.sh: WARNING: Debian packages missing (the mesh source and the tests need them): $missing; run as root: apt-get install $missing" >&2
  fi
fi
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
stamp=.venv/.igae-requirements.sha256
wanted=$(sha256sum envs/requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  echo "envs/setup.sh: .venv is up to date"
  exit 0
fi
# pip's own status is kept (pipefail); only the noise of find-links folders absent on some machines is dropped.
pip_quiet() { .venv/bin/python -m pip "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip_quiet install --quiet --upgrade pip
# torch and torchvision are pinned together in requirements.txt, so no dependency can pull another torch.
pip_quiet install --quiet -r envs/requirements.txt
pip_quiet install --quiet --no-deps -e .
.venv/bin/python -m pip check
.venv/bin/python -c "import torch, torchvision, nerfstudio, diffusers, igae; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
echo "$wanted" > "$stamp"
