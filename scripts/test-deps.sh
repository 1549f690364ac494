#!/usr/bin/env bash
# Installs what the tests need that Go does not bring: ffmpeg (encodes test
# media, plays RTMP/RTSP publisher), the -dev packages of AAC to Opus
# transcoding, Chromium (the browser test), and the
# browser test's npm packages (playwright-core drives Debian's Chromium; no
# browser download). As root it installs from Debian; otherwise it only
# checks and says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# AAC to Opus transcoding (cgo): FFmpeg's decoder and resampler, libopus.
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists libavcodec libswresample libavutil opus 2>/dev/null || need+=(libavcodec-dev libswresample-dev libavutil-dev libopus-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: installing ${need[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "test-deps: missing ${need[*]}; install them (Debian: apt-get install ${need[*]}) and run again" >&2
    exit 1
  fi
fi

if [ ! -d test/browser/node_modules/playwright-core ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "test-deps: npm is needed for the browser test (apt-get install npm)" >&2
    exit 1
  fi
  echo "test-deps: installing the browser test's npm packages"
  (cd test/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
