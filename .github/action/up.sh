#!/usr/bin/env bash
# Runs `kindstack up` for the action and writes its outputs:
#   context   the kubectl context     base-url  where the ingress answers     summary  up -o json
# With INPUT_CACHE_IMAGES=true, a bundle found in IMAGE_CACHE is handed to `up --bundle` (the node
# image into Docker, every other image into the node, registry digests kept, so even the
# digest-pinned add-on images come from the cache), and after a good run on a cold cache
# `kindstack images save --node-image` writes that bundle for the next run. Reads INPUT_NAME,
# INPUT_CONFIG, INPUT_INGRESS, INPUT_ARGS, INPUT_CACHE_IMAGES, IMAGE_CACHE, RUNNER_TEMP, GITHUB_OUTPUT.
set -uo pipefail
name=${INPUT_NAME:-kindstack}
bundle="${IMAGE_CACHE:-$RUNNER_TEMP/kindstack-images}/bundle.tar"
config=()
[ -n "${INPUT_CONFIG:-}" ] && config=(--config "$INPUT_CONFIG")
[ -n "${INPUT_INGRESS:-}" ] && config+=(--ingress "$INPUT_INGRESS")
cached=()
if [ "${INPUT_CACHE_IMAGES:-false}" = true ] && [ -s "$bundle" ]; then
  cached=(--bundle "$bundle")
fi
summary="$RUNNER_TEMP/kindstack-up.json"
# shellcheck disable=SC2086 # INPUT_ARGS is a list of flags
kindstack up -o json --name "$name" "${config[@]}" "${cached[@]}" ${INPUT_ARGS:-} > "$summary"
rc=$?

{
  echo "context=kind-$name"
  echo "base-url=$(jq -r '.urls[0] // "" | sub("/$"; "")' "$summary")"
  delimiter="kindstack-$RANDOM$RANDOM"
  echo "summary<<$delimiter"
  cat "$summary"
  echo "$delimiter"
} >> "$GITHUB_OUTPUT"

if [ "$rc" -eq 0 ] && [ "${INPUT_CACHE_IMAGES:-false}" = true ] && [ ${#cached[@]} -eq 0 ]; then
  mkdir -p "$(dirname "$bundle")"
  # shellcheck disable=SC2086 # INPUT_ARGS is a list of flags
  kindstack images save "$bundle" --node-image -q "${config[@]}" ${INPUT_ARGS:-} ||
    echo "::warning title=kindstack::could not write the image cache; the next run pulls again"
fi
exit "$rc"
