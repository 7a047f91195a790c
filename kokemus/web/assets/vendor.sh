#!/bin/sh
# Re-vendor the front-end assets pinned in package-lock.json into ../static/vendor/.
# The app serves only these committed copies: no CDN and no npm at run time.
# To upgrade: edit the version in package.json, run `npm install --package-lock-only`, then this.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp "$here/package.json" "$here/package-lock.json" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --silent)

pico="$work/node_modules/@picocss/pico"
mkdir -p "$out"
cp "$pico/css/pico.min.css" "$out/pico.min.css"
cp "$pico/LICENSE.md" "$out/pico.LICENSE.md"
version=$(node -p "require('$pico/package.json').version")
echo "vendored @picocss/pico $version into $out"

# Swagger UI for the API reference (/api/docs); its @scarf/scarf dependency is telemetry
# run by an install script, which --ignore-scripts above keeps from running
swagger="$work/node_modules/swagger-ui-dist"
cp "$swagger/swagger-ui-bundle.js" "$out/swagger-ui-bundle.js"
cp "$swagger/swagger-ui.css" "$out/swagger-ui.css"
cp "$swagger/LICENSE" "$out/swagger-ui.LICENSE"
cp "$swagger/NOTICE" "$out/swagger-ui.NOTICE"
version=$(node -p "require('$swagger/package.json').version")
echo "vendored swagger-ui-dist $version into $out"

# ELK (Eclipse Layout Kernel) for the journey map's layered layout: the server runs it in an
# embedded V8 (mini-racer, kokemus/web/elk.py) and draws the SVG itself, so pages stay free
# of scripts; only the single-file bundle is needed (its fake worker runs in-process)
elk="$work/node_modules/elkjs"
cp "$elk/lib/elk.bundled.js" "$out/elk.bundled.js"
cp "$elk/LICENSE.md" "$out/elk.LICENSE.md"
version=$(node -p "require('$elk/package.json').version")
echo "vendored elkjs $version into $out"
