#!/usr/bin/env bash
# Set up ecabench on a fresh Debian/Ubuntu machine: the Fashion-MNIST package and a virtualenv
# (.venv) with ecabench installed in editable mode. Safe to re-run; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch/torchvision first, pinned to the builds this project is tested with.
.venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
# test: pytest; postgres: the PostgreSQL driver for tuning storages (and the engine tests)
.venv/bin/python -m pip install -q -e ".[test,postgres]"
echo "ecabench is set up in .venv (activate with: . .venv/bin/activate)"
