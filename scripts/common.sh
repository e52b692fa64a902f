# Sourced by the scripts: paths and the configure/build helpers.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
JOBS="${RECSYS_JOBS:-$(nproc)}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

log() { echo "[recsys] $*" >&2; }

# configure BUILD_DIR [extra cmake args...]
configure() {
  local dir="$1"; shift
  mkdir -p "$dir"
  local gen=()
  if command -v ninja >/dev/null; then gen=(-G Ninja); fi
  if [[ ! -f "$dir/CMakeCache.txt" ]]; then
    cmake -S "$ROOT" -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DPython_EXECUTABLE="$PY" "$@" >"$dir/configure.log" 2>&1 || { cat "$dir/configure.log"; return 1; }
  else
    cmake -S "$ROOT" -B "$dir" -DPython_EXECUTABLE="$PY" "$@" >"$dir/configure.log" 2>&1 || { cat "$dir/configure.log"; return 1; }
  fi
}
