#!/usr/bin/env bash
# Bring axe-core (the accessibility rules the browser check runs on every page) into
# node_modules/axe-core/. Only tools/check_book.py loads it, into the page it is checking; the
# book itself never does. Pinned, and checked against the npm registry's sha512 integrity
# before it is unpacked, as tools/vendor_assets.sh does for MathJax.
set -euo pipefail
cd "$(dirname "$0")/.."
version=4.14.1
integrity="sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
dest=node_modules/axe-core
if [[ -f "$dest/.version" && "$(cat "$dest/.version")" == "$version" ]]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "npm is needed once to fetch axe-core for the browser check (apt-get install npm)." >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "axe-core@$version" >/dev/null 2>&1)
f="$tmp/axe-core-$version.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$f" | base64 -w0)"
if [[ "$got" != "$integrity" ]]; then
  echo "integrity mismatch for axe-core-$version.tgz: got $got" >&2
  exit 1
fi
tar xzf "$f" -C "$tmp"
rm -rf "$dest" && mkdir -p "$dest"
cp "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$dest/"
echo "$version" >"$dest/.version"
echo "vendored axe-core@$version into $dest"
