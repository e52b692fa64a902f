#!/usr/bin/env bash
# Installs everything recsys needs on Debian 12: system packages via apt-get,
# Python packages via pip into a virtual environment at .venv (PEP 668 safe).
# Idempotent: skips what is already present.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libfaiss-dev libopenblas-dev libeigen3-dev libtbb-dev libabsl-dev
  pybind11-dev libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev
  python3-venv python3-dev
)
# clang + libFuzzer runtime only for the fuzz pass (RECSYS_SANITIZE=fuzz|all scripts/test.sh).
if [[ "${RECSYS_WITH_FUZZ:-0}" == 1 ]]; then APT_PACKAGES+=(clang libclang-rt-14-dev); fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "[install] apt-get install ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "[install] system packages present" >&2
fi

# Python: a venv so pip works on Debian's externally-managed Python too.
PY="${RECSYS_PYTHON:-python3}"
VENV="$ROOT/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "[install] creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
PIP_PACKAGES=(numpy pytest scikit-build-core pybind11 pandas pyarrow matplotlib)
need=()
for p in "${PIP_PACKAGES[@]}"; do
  mod="$p"
  case "$p" in scikit-build-core) mod=scikit_build_core ;; esac
  if ! "$VENV/bin/python" -c "import $mod" 2>/dev/null; then need+=("$p"); fi
done
if ((${#need[@]})); then
  echo "[install] pip install ${need[*]}" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q "${need[@]}"
else
  echo "[install] python packages present" >&2
fi
