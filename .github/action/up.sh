#!/usr/bin/env bash
# Runs `kindstack up` for the action and writes its outputs:
#   context   the kubectl context     base-url  where the ingress answers     summary  up -o json
# With INPUT_CACHE_IMAGES=true, images found in IMAGE_CACHE are loaded into Docker first (so `up`
# streams them into the node instead of pulling), and after a good run on a cold cache the
# tagged images are pulled and saved there for the next run (digest-pinned ones are pulled by the
# node itself). Reads INPUT_NAME, INPUT_CONFIG, INPUT_INGRESS, INPUT_ARGS, INPUT_CACHE_IMAGES, IMAGE_CACHE,
# RUNNER_TEMP, GITHUB_OUTPUT.
set -uo pipefail
name=${INPUT_NAME:-kindstack}
archive="${IMAGE_CACHE:-$RUNNER_TEMP/kindstack-images}/images.tar"
list="$RUNNER_TEMP/kindstack-images.txt"
loaded=false
if [ "${INPUT_CACHE_IMAGES:-false}" = true ] && [ -s "$archive" ]; then
  docker load -q -i "$archive" && loaded=true
fi

config=()
[ -n "${INPUT_CONFIG:-}" ] && config=(--config "$INPUT_CONFIG")
[ -n "${INPUT_INGRESS:-}" ] && config+=(--ingress "$INPUT_INGRESS")
summary="$RUNNER_TEMP/kindstack-up.json"
# shellcheck disable=SC2086 # INPUT_ARGS is a list of flags
kindstack up -o json --name "$name" "${config[@]}" ${INPUT_ARGS:-} > "$summary"
rc=$?

{
  echo "context=kind-$name"
  echo "base-url=$(jq -r '.urls[0] // "" | sub("/$"; "")' "$summary")"
  delimiter="kindstack-$RANDOM$RANDOM"
  echo "summary<<$delimiter"
  cat "$summary"
  echo "$delimiter"
} >> "$GITHUB_OUTPUT"

if [ "$rc" -eq 0 ] && [ "${INPUT_CACHE_IMAGES:-false}" = true ] && [ "$loaded" = false ] && [ -s "$list" ]; then
  mkdir -p "$(dirname "$archive")"
  tagged=()
  while read -r image; do
    case "$image" in *@sha256:*|'') ;; *) docker pull -q "$image" >/dev/null && tagged+=("$image") ;; esac
  done < "$list"
  [ ${#tagged[@]} -gt 0 ] && docker save -o "$archive" "${tagged[@]}"
fi
exit "$rc"
