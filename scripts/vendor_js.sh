#!/usr/bin/env bash
# The map page's JavaScript and data, from the npm registry at pinned versions, checked
# against their published integrity and copied into app/map/static/vendor/ (committed: the
# page loads nothing from elsewhere, and works offline). Run again after changing a pin.
set -euo pipefail
cd "$(dirname "$0")/.."
VENDOR=app/map/static/vendor

# name@version  integrity  files to keep (paths inside the package)
PACKAGES=(
  "maplibre-gl@6.20.0 sha512-7manvqXeNoN0mKRzenYDopkb3VW9j7iag45RvopkOVFZ7c+La7CBWtK8eBS5bKrI6NyxqAIxPxIG1PMcotcY1w== dist/maplibre-gl.mjs dist/maplibre-gl-worker.mjs dist/maplibre-gl.css LICENSE.txt"
  "topojson-client@3.1.0 sha512-605uxS6bcYxGXw9qi62XyrV6Q3xwbndjachmNxu8HWTtVPxZfEJN9fd/SZS1Q54Sn2y0TMyMxFj/cJINqGHrKw== dist/topojson-client.min.js LICENSE"
  "world-atlas@2.0.2 sha512-IXfV0qwlKXpckz1FhwXVwKRjiIhOnWttOskm5CtxMsjgE/MXAYRHWJqgXOpM8IkcPBoXnyTU5lFHcYa5ChG0LQ== countries-50m.json LICENSE"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for entry in "${PACKAGES[@]}"; do
  read -r spec integrity files <<<"$entry"
  name=${spec%@*}
  echo "vendor: $spec" >&2
  packed=$(cd "$work" && npm pack --json --silent "$spec")
  got=$(python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["integrity"])' <<<"$packed")
  if [[ $got != "$integrity" ]]; then
    echo "vendor: $spec has integrity $got, expected $integrity" >&2
    exit 1
  fi
  tarball=$(python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["filename"])' <<<"$packed")
  rm -rf "${VENDOR:?}/$name" && mkdir -p "$VENDOR/$name"
  for file in $files; do
    tar -xzf "$work/$tarball" -C "$VENDOR/$name" --strip-components=1 "package/$file"
  done
  echo "$spec" >"$VENDOR/$name/VERSION"
done
