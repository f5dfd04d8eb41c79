#!/usr/bin/env bash
# Copies the pinned browser libraries (package.json, package-lock.json) from npm into the tree: the minified files,
# their source maps and their licences. The copies are committed, so running the site or its tests needs no npm;
# run this again only to change a pin (edit package.json, `npm install --package-lock-only`, then this script).
#   scripts/vendor-js.sh          copy
#   scripts/vendor-js.sh --check  fail if the committed copies differ from the pinned packages
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp package.json package-lock.json "$work/"
# --ignore-scripts: nothing from a package runs here; we only copy files out of the tarballs.
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --silent)
modules="$work/node_modules"

out=$(mktemp -d)
trap 'rm -rf "$work" "$out"' EXIT
copy() { # copy SOURCE_IN_NODE_MODULES DESTINATION_IN_TREE
  mkdir -p "$out/$(dirname "$2")"
  cp "$modules/$1" "$out/$2"
}

# markdown-it, with the licences of the packages its browser bundle includes.
copy markdown-it/dist/browser/markdown-it.umd.min.js static/vendor/markdown-it/markdown-it.umd.min.js
copy markdown-it/dist/browser/markdown-it.umd.min.js.map static/vendor/markdown-it/markdown-it.umd.min.js.map
copy markdown-it/LICENSE static/vendor/markdown-it/LICENSE
copy linkify-it/LICENSE static/vendor/markdown-it/LICENSE.linkify-it
copy mdurl/LICENSE static/vendor/markdown-it/LICENSE.mdurl
copy uc.micro/LICENSE.txt static/vendor/markdown-it/LICENSE.uc.micro
copy entities/LICENSE static/vendor/markdown-it/LICENSE.entities
copy punycode.js/LICENSE-MIT.txt static/vendor/markdown-it/LICENSE.punycode
# DOMPurify is dual-licensed (Apache-2.0 or MPL-2.0): both texts.
copy dompurify/dist/purify.min.js static/vendor/dompurify/purify.min.js
copy dompurify/dist/purify.min.js.map static/vendor/dompurify/purify.min.js.map
copy dompurify/LICENSE static/vendor/dompurify/LICENSE
copy dompurify/LICENSE-MPL static/vendor/dompurify/LICENSE-MPL
# axe-core is for the e2e tests only: it is never served (MPL-2.0).
copy axe-core/axe.min.js tests/e2e/vendor/axe-core/axe.min.js
copy axe-core/LICENSE tests/e2e/vendor/axe-core/LICENSE
copy axe-core/LICENSE-3RD-PARTY.txt tests/e2e/vendor/axe-core/LICENSE-3RD-PARTY.txt

targets=(static/vendor tests/e2e/vendor)
if [[ "${1:-}" == "--check" ]]; then
  for target in "${targets[@]}"; do
    diff -r "$out/$target" "$target" || { echo "$target differs from the pinned packages: run scripts/vendor-js.sh" >&2; exit 1; }
  done
  echo "vendored JavaScript matches package-lock.json"
else
  for target in "${targets[@]}"; do
    rm -rf "$target"
    mkdir -p "$(dirname "$target")"
    cp -r "$out/$target" "$target"
  done
  echo "copied: $(cd "$out" && find . -type f | sort | tr '\n' ' ')"
fi
