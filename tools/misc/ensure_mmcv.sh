#!/usr/bin/env bash
# Make sure the venv's mmcv 2.1.0 has compiled ops built against the *installed* torch.
#
# Skips the (long) build when the recorded build key matches and `mmcv._ext` imports; otherwise
# (first install, torch moved, CPU <-> CUDA machine, broken build) recompiles from source with
# --no-build-isolation (the build must see torch) and --no-cache-dir (never reuse a wheel built
# against another torch). Fails loudly when the ops do not import afterwards.
set -euo pipefail
PY=${1:-.venv/bin/python}
STAMP=$(dirname "$(dirname "$PY")")/.mmcv-build-key
MMCV_REQ=$(grep -v '^#' requirements/mmcv.txt | grep -m1 mmcv)

key=$("$PY" - <<'PY'
import torch
cuda = torch.version.cuda if torch.cuda.is_available() else 'cpu'
print(f'torch={torch.__version__} cuda={cuda}')
PY
)

ops_ok() {
  "$PY" -c "from mmcv.ops import nms, roi_align; import mmcv; assert mmcv.__version__ == '${MMCV_REQ#mmcv==}'" 2>/dev/null
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$key" ] && ops_ok; then
  echo "[mmcv] ops built against $key: up to date"
  exit 0
fi

echo "[mmcv] building $MMCV_REQ with ops against $key (10-11 min on a 2-core Intel Xeon or AMD EPYC with AVX-512, 27 min on a 2-core AMD EPYC with AVX2 only)"
export MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)}
if [[ "$key" != *cuda=cpu ]]; then export FORCE_CUDA=1; echo "[mmcv] CUDA present: building CUDA ops"; fi
"$PY" -m pip uninstall -y -q mmcv mmcv-lite >/dev/null 2>&1 || true
start=$(date +%s)
( while sleep 60; do echo "[mmcv] ... still compiling ($(( $(date +%s) - start ))s elapsed)"; done ) &
ticker=$!
trap 'kill $ticker 2>/dev/null || true' EXIT
log=$(mktemp)
src=$(mktemp -d)
"$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation --no-cache-dir -d "$src" "$MMCV_REQ" >"$log" 2>&1 \
  || { tail -n 20 "$log"; echo "[mmcv] ERROR: could not download the $MMCV_REQ source archive" >&2; exit 1; }
tar -xzf "$src"/mmcv-*.tar.gz -C "$src"
srcdir=$(ls -d "$src"/mmcv-*/)
# Upstream break: mmcv 2.1.0's setup.py hard-codes -std=c++17 (cxx and nvcc), but torch >= 2.10
# headers refuse anything below C++20 ("#error C++20 or later compatible compiler is required").
# Raise the standard only when the installed torch demands it, so this turns itself off for
# older torch and for an mmcv whose setup.py no longer pins c++17.
torch_inc=$("$PY" -c "import torch.utils.cpp_extension as c; print(c.include_paths()[0])")
if grep -q "C++20 or later" "$torch_inc/ATen/ATen.h" 2>/dev/null && grep -q -- "-std=c++17" "$srcdir/setup.py"; then
  echo "[mmcv] torch requires C++20: building with -std=c++20 instead of mmcv's -std=c++17"
  sed -i "s/'-std=c++17'/'-std=c++20'/g" "$srcdir/setup.py"
fi
if ! "$PY" -m pip install --no-build-isolation --no-cache-dir "$srcdir" >"$log" 2>&1; then
  tail -n 40 "$log"; echo "[mmcv] ERROR: pip failed to build $MMCV_REQ (log above)" >&2; exit 1
fi
kill $ticker 2>/dev/null || true
if ! err=$("$PY" -c "from mmcv.ops import nms, roi_align" 2>&1); then
  echo "$err" | tail -n 5 >&2
  echo "[mmcv] ERROR: mmcv installed but its compiled ops (mmcv._ext) do not import." >&2
  echo "[mmcv] The build probably did not see torch; see requirements/mmcv.txt and README 'GPU notes'." >&2
  exit 1
fi
rm -rf "$src"
echo "$key" >"$STAMP"
echo "[mmcv] built in $(( $(date +%s) - start ))s; ops import fine"
