#!/usr/bin/env bash
# Installs the Debian packages TacoKit builds against, if any are missing. Idempotent and quiet when
# everything is present; needs root (or sudo) only when something must be installed.
set -euo pipefail

packages=(
  libinsighttoolkit5-dev   # ITK 5.2 (pulls in GDCM)
  libnifti-dev             # libnifti (NIfTI-1)
  libhdf5-dev              # serial HDF5
  libopenblas-dev          # BLAS
  pkg-config zlib1g-dev
  patchelf                 # the wheel's $ORIGIN run paths (scripts/build_wheel.py)
  python3-venv             # the test-side Python environment (nibabel, pydicom, h5py cross-checks)
  time                     # /usr/bin/time: peak memory in Benchmarks/prep/run.sh
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "setup: the Swift 6 toolchain is needed (swift not on PATH)" >&2
  exit 1
fi
