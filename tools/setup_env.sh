#!/usr/bin/env bash
# Set up .venv on a fresh Debian machine: system packages for the embedded corpus,
# a CPU torch (never a forced CUDA download), torchaudio without a second torch,
# the maintained s3prl fork, and this package in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
TORCHAUDIO_VERSION=${TORCHAUDIO_VERSION:-2.11.0}

# 1. System packages: synthesis voices and text for the mini-SUPERB corpus.
need=()
for cmd in sox espeak-ng flite; do command -v "$cmd" >/dev/null || need+=("$cmd"); done
[ -d /usr/share/games/fortunes ] || need+=(fortunes)
[ -e /usr/lib/x86_64-linux-gnu/libsndfile.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/libsndfile.so.1 ] || need+=(libsndfile1)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "[setup] missing system packages: ${need[*]} (install them with your package manager)" >&2
    exit 1
  fi
fi

# 2. Virtual environment. pip<24.1 because catalyst 22.4's metadata is rejected by newer pip.
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q "pip<24.1" wheel setuptools

# 3. torch: the CPU build. A local CPU wheel (pip's find-links) is used when present;
#    otherwise PyTorch's CPU index. Nothing is done if torch already imports.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  links=$($PIP config list 2>/dev/null | sed -n "s/.*find-links='\(.*\)'/\1/p" | head -n1)
  if [ -n "$links" ] && ls "$links"/torch-"$TORCH_VERSION"*cpu*.whl >/dev/null 2>&1; then
    echo "[setup] torch $TORCH_VERSION (local CPU wheel in $links)"
    $PIP install -q "torch==$TORCH_VERSION"
  else
    echo "[setup] torch $TORCH_VERSION (CPU index)"
    $PIP install -q "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
  fi
fi
# 4. torchaudio without its exact torch pin (its pure-Python parts work with a newer torch;
#    upstream_distill.core.torchaudio_import imports it without its compiled parts when they cannot load).
$VENV/bin/python -c "import importlib.metadata as m; m.version('torchaudio')" 2>/dev/null \
  || $PIP install -q --no-deps "torchaudio==$TORCHAUDIO_VERSION"
# 5. The package and the rest of its requirements (torch/torchaudio already satisfied).
$PIP install -q -e ".[test]"
echo "[setup] ready: $($VENV/bin/python -c 'import torch, torchaudio; print("torch", torch.__version__, "torchaudio", torchaudio.__version__)' 2>/dev/null || $VENV/bin/python -c 'import torch; print("torch", torch.__version__)')"
