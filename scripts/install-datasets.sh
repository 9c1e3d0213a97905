#!/bin/sh
# Install Debian's dataset-fashion-mnist (the four Fashion-MNIST IDX files under
# /usr/share/datasets/fashion-mnist), which the Klein-layer experiments and the Watcher example
# train on. Idempotent and quiet; needs root (or passwordless sudo) and an apt mirror.
# Without them it says so and exits 0: the code then names the package in its error, and the
# tests that need the data fail under CNNTOPO_REQUIRE_ASSETS=1 (CI) and skip elsewhere.
set -eu

if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-datasets: no apt-get here; set CNNTOPO_FASHION_MNIST to a folder of the IDX files" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "install-datasets: not root and no passwordless sudo; Fashion-MNIST not installed" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get install -y -qq --no-install-recommends dataset-fashion-mnist >/dev/null 2>&1 ||
       { $SUDO apt-get update -qq >/dev/null &&
         $SUDO apt-get install -y -qq --no-install-recommends dataset-fashion-mnist >/dev/null; }; }; then
    echo "install-datasets: apt-get could not install dataset-fashion-mnist" >&2
    exit 0
fi
echo "install-datasets: Fashion-MNIST in /usr/share/datasets/fashion-mnist"
