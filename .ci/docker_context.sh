#!/usr/bin/env bash
# No container engine runs on the CI machine, so the image is never built
# there; this checks the part a change most easily breaks: the files the
# Dockerfile COPYs into its build stage are enough to build the binary
# (a new folder the code includes, left out of the image, fails here).
# The context is assembled from the Dockerfile's own COPY lines (build
# stage) and built with the shared target directory (only this crate
# compiles again).
set -euo pipefail
cd "$(dirname "$0")/.."
ctx=target/docker-context
rm -rf "$ctx" && mkdir -p "$ctx"
# COPY <src>... <dest> lines before the runtime stage, without --from.
sed -n '1,/^FROM debian/p' Dockerfile | grep -E '^COPY ' | grep -v -- '--from' | while read -r _ args; do
  read -ra parts <<< "$args"
  dest=${parts[-1]}
  for src in "${parts[@]:0:${#parts[@]}-1}"; do
    target="$ctx/$dest"
    [ "$dest" = "./" ] && target="$ctx/$src"
    mkdir -p "$(dirname "$target")"
    cp -r "$src" "$target"
  done
done
echo "context: $(cd "$ctx" && find . -type f | wc -l) files ($(cd "$ctx" && ls | tr '\n' ' '))"
(cd "$ctx" && CARGO_TARGET_DIR=.. cargo build --locked --bin paiecashfan 2>&1 | tail -n 3)
