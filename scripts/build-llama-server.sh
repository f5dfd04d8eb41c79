#!/usr/bin/env bash
# Builds llama.cpp's llama-server from the llama.cpp tree vendored in the llama-cpp-python sdist of VERSION and
# installs the single static binary at DEST. Called by setup.sh only when DEST is missing.
# Usage: build-llama-server.sh VERSION DEST CMAKE_FLAG...
set -euo pipefail
version=$1
dest=$2
shift 2

say() { echo "setup: llama-server: $*"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/genaisite-llama.XXXXXX")
trap 'rm -rf "$work"' EXIT

say "building llama.cpp's server once from llama-cpp-python $version (4 to 8 minutes on 2 cores); cached in $(dirname "$dest")"
say "[1/3] downloading the pinned source (75 MB) from PyPI"
# pip prepares the sdist's metadata (~30 s) even for a download; it is the one client that reaches PyPI here.
# PYTHON: the interpreter whose pip to use (setup.sh passes the new virtualenv's).
"${PYTHON:-python3}" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary llama-cpp-python \
  "llama-cpp-python==$version" -d "$work" 2> >(grep -v "^WARNING: Location '" >&2)
tar -xzf "$work"/llama_cpp_python-"$version".tar.gz -C "$work"
source_dir="$work/llama_cpp_python-$version/vendor/llama.cpp"

say "[2/3] configuring"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
cmake -S "$source_dir" -B "$work/build" "${generator[@]}" "$@" >"$work/configure.log" 2>&1 || {
  tail -20 "$work/configure.log" >&2
  exit 1
}

say "[3/3] compiling (progress every 10%)"
# Both ninja ("[12/206]") and make ("[ 45%]") print progress; show one line per tenth instead of hundreds.
cmake --build "$work/build" --target llama-server -j "$(nproc)" 2>&1 | tee "$work/build.log" | awk '
  /^\[ *[0-9]+\/[0-9]+\]/ { s = $1; gsub(/[\[\] ]/, "", s); split(s, n, "/"); pct = int(100 * n[1] / n[2]) }
  /^\[ *[0-9]+%\]/ { s = $0; sub(/^\[ */, "", s); pct = int(s) }
  pct >= mark { printf "setup: llama-server: compiled %d%%\n", pct; fflush(); mark = pct - pct % 10 + 10 }
' || true
binary=$(find "$work/build" -type f -name llama-server -perm -u+x | head -1)
if [ -z "$binary" ]; then
  tail -30 "$work/build.log" >&2
  say "build failed (see the lines above)"
  exit 1
fi
mkdir -p "$(dirname "$dest")"
install -m 0755 "$binary" "$dest.tmp" && mv "$dest.tmp" "$dest"
say "built $("$dest" --version 2>&1 | grep -m1 -i version || echo "$dest")"
