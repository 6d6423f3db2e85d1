#!/usr/bin/env bash
# No container engine runs on the CI machine, so the image is never built
# there; this checks the part a change most easily breaks: the files the
# Dockerfile COPYs into its build stage are enough to build the binary
# (a new folder the code includes, left out of the image, fails here).
#
# The context is assembled from the Dockerfile's own COPY lines (build
# stage). Then, without compiling again (that took two of CI's minutes):
# - cargo reads the context's manifest and lock file with --locked, as the
#   image's build does (the lock file must hold what the manifest asks for);
# - every file of this repository that the compiler read for the binary
#   (its dep-info: sources, migrations embedded by sqlx::migrate!, assets
#   embedded by include_str!/include_bytes!) must be in the context.
# `cargo test` builds the binary only as a dependency of the tests, and cargo
# writes a binary's dep-info only when the binary itself is asked for: with
# the tests' features (as `cargo test` had them), it is one more link, not a
# build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)
bin=target/debug/paiecashfan
cargo build --quiet --bins --tests
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

# --locked: the lock file must already hold what the manifest asks for (the
# image builds with --locked); this machine's platform only, as the image's is.
host=$(rustc -vV | sed -n 's/^host: //p')
(cd "$ctx" && cargo metadata --locked --offline --format-version 1 --filter-platform "$host" >/dev/null)

if [ ! -f "$bin.d" ]; then
  echo "!!! cargo wrote no $bin.d" >&2
  exit 1
fi
# The dep-info's first line is "<binary>: <file> <file> ..." (absolute paths,
# a space inside one written "\ ").
python3 - "$bin.d" "$root" "$ctx" <<'PY'
import os, re, sys
depinfo, root, ctx = sys.argv[1:]
with open(depinfo, encoding="utf-8") as f:
    first = f.readline()
deps = first.split(": ", 1)[1] if ": " in first else ""
paths = [p.replace("\\ ", " ") for p in re.split(r"(?<!\\) ", deps.strip()) if p]
mine = sorted({os.path.relpath(p, root) for p in paths
               if p.startswith(root + os.sep) and not p.startswith(os.path.join(root, "target") + os.sep)})
if len(mine) < 10:
    sys.exit(f"!!! {depinfo} names only {len(mine)} files of this repository: not the dep-info of a build of it")
missing = [p for p in mine if not os.path.isfile(os.path.join(ctx, p))]
if missing:
    print("!!! the binary's build reads files the Dockerfile does not COPY into its build stage:", file=sys.stderr)
    for p in missing:
        print(f"  {p}", file=sys.stderr)
    sys.exit(1)
print(f"the {len(mine)} files of this repository that the binary's build reads are all in the context")
PY
