#!/usr/bin/env bash
# The end-to-end tests drive Debian's Chromium. Install it when missing (as root, or through sudo without a
# password); otherwise say exactly what to run. Nothing is downloaded from outside Debian's archive.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "chromium is missing: the browser tests need it. Run: sudo apt-get install -y chromium" >&2
  exit 1
fi

echo "installing chromium from Debian's packages (for the browser tests)"
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get install -y --no-install-recommends chromium fonts-liberation >/dev/null; then
  # A fresh machine may have no package lists yet.
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y --no-install-recommends chromium fonts-liberation >/dev/null
fi
command -v chromium >/dev/null
