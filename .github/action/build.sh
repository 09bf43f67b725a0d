#!/usr/bin/env bash
# Builds kindstack from the action's checkout, puts it on PATH and says which images it runs:
#   images-key  kindstack's version and a hash of every image `up` runs with these inputs
# Reads ACTION_PATH, RUNNER_TEMP, GITHUB_PATH, GITHUB_OUTPUT, INPUT_CONFIG, INPUT_INGRESS, INPUT_ARGS.
set -euo pipefail
bin="$RUNNER_TEMP/kindstack-bin"
mkdir -p "$bin"
if [ -z "${KINDSTACK_PREBUILT:-}" ]; then
  (cd "$ACTION_PATH" && CGO_ENABLED=0 go build -trimpath -o "$bin/kindstack" .)
else
  cp "$KINDSTACK_PREBUILT" "$bin/kindstack"   # tests hand in a binary
fi
echo "$bin" >> "$GITHUB_PATH"

config=()
[ -n "${INPUT_CONFIG:-}" ] && config=(--config "$INPUT_CONFIG")
[ -n "${INPUT_INGRESS:-}" ] && config+=(--ingress "$INPUT_INGRESS")
version=$("$bin/kindstack" version -o json | jq -r .version)
# shellcheck disable=SC2086 # INPUT_ARGS is a list of flags
images=$("$bin/kindstack" images list -o json "${config[@]}" ${INPUT_ARGS:-} | jq -r '.[].image' | sort -u)
echo "images-key=$version-$(printf '%s\n' "$images" | sha256sum | cut -c1-16)" >> "$GITHUB_OUTPUT"
printf '%s\n' "$images" > "$RUNNER_TEMP/kindstack-images.txt"
