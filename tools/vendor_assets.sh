#!/usr/bin/env bash
# Bring the book's front-end assets into _vendor/ (copied to the built book's _static/) so the rendered book works offline:
# MathJax 3 (math), RequireJS and the Jupyter widgets HTML manager (static widgets).
# Each package comes from the npm registry at a pinned version and is checked against the
# registry's sha512 integrity before it is unpacked. Nothing here is fetched at page load.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=_vendor
stamp="$dest/.versions"
want="v3 mathjax@3.2.2 requirejs@2.3.8 @jupyter-widgets/html-manager@1.0.15"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "npm is needed once to fetch MathJax and the widget manager (apt-get install npm)." >&2
  exit 1
fi
declare -A integrity=(
  [mathjax-3.2.2.tgz]="sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
  [requirejs-2.3.8.tgz]="sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw=="
  [jupyter-widgets-html-manager-1.0.15.tgz]="sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA=="
)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent ${want#v3 } >/dev/null 2>&1)
for f in "${!integrity[@]}"; do
  got="sha512-$(openssl dgst -sha512 -binary "$tmp/$f" | base64 -w0)"
  if [[ "$got" != "${integrity[$f]}" ]]; then
    echo "integrity mismatch for $f: got $got" >&2
    exit 1
  fi
  mkdir -p "$tmp/${f%.tgz}" && tar xzf "$tmp/$f" -C "$tmp/${f%.tgz}"
done
rm -rf "$dest" && mkdir -p "$dest/mathjax" "$dest/widgets"
mj="$tmp/mathjax-3.2.2/package/es5"
cp "$mj/tex-chtml.js" "$dest/mathjax/"
cp -r "$mj/input" "$mj/output" "$mj/a11y" "$mj/ui" "$mj/sre" "$mj/adaptors" "$dest/mathjax/" 2>/dev/null || true
cp "$tmp/requirejs-2.3.8/package/require.js" "$dest/widgets/require.min.js"
hm="$tmp/jupyter-widgets-html-manager-1.0.15/package/dist"
cp "$hm"/embed-amd.js "$dest/widgets/"
# The manager's icon fonts, where its modules resolve them (see tools/sphinx_offline.py).
# Its bundled modules resolve them from two module paths, so both hold a copy.
for d in "$dest/widgets/@jupyter-widgets/html-manager/dist" "$dest/widgets/@jupyter-widgets"; do
  mkdir -p "$d"
  cp "$hm"/*.woff* "$hm"/*.ttf "$hm"/*.eot "$hm"/*.svg "$d/"
done
echo "$want" >"$stamp"
echo "vendored $want into $dest"
