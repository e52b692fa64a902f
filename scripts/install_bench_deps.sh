#!/usr/bin/env bash
# Installs the optional Python packages of the peer benchmarks (PyTorch for
# benchmarks/peers/sasrec_torch.py) into the project's virtual environment.
# PyPI only. The default PyPI wheel of torch for Linux x86-64 pulls the CUDA
# runtime libraries as dependencies (several GB); the benchmark only uses the
# CPU. Tests never need torch.
#
#   scripts/install_bench_deps.sh            # uses ./.venv (created if missing)
#   VENV=/path/to/venv scripts/install_bench_deps.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV:-$root/.venv}"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
start=$(date +%s)
"$venv/bin/python" -m pip install --upgrade pip >/dev/null
"$venv/bin/python" -m pip install torch
end=$(date +%s)
"$venv/bin/python" - <<'PY'
import torch
print(f"torch {torch.__version__} installed; threads {torch.get_num_threads()}")
PY
echo "install_bench_deps: $((end - start)) s" >&2
