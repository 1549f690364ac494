#!/usr/bin/env bash
# make image: static binaries built here, packed by podman into the
# Dockerfile's "local" target (FROM scratch: no registry is needed). As
# root it installs podman from Debian when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v podman >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "image: installing podman from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq podman >/dev/null
  else
    echo "image: podman is needed (Debian: apt-get install podman), or build with docker: docker build -t relaymesh ." >&2
    exit 1
  fi
fi
TAG=${TAG:-relaymesh:dev}
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o bin/static/ ./cmd/origin ./cmd/relay ./cmd/ingest
podman build --quiet --target local -t "$TAG" . >/dev/null
# What the manifests rely on: both binaries, a non-root user.
user=$(podman image inspect --format '{{.Config.User}}' "$TAG")
[ "$user" = "65532:65532" ] || { echo "image: runs as '$user', want 65532:65532" >&2; exit 1; }
echo "image: built $TAG ($(podman image inspect --format '{{.Size}}' "$TAG") bytes): /usr/local/bin/origin, relay and ingest, user $user"
