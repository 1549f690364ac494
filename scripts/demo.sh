#!/usr/bin/env bash
# A cluster on this machine: one origin and four relays, two levels deep.
#   origin ── r1 ── r3
#         └── r2 ── r4
# Every relay chooses its parent itself, with a fan-out of 2 (-max-children):
# r1 and r2 carry the stream "demo" as soon as it is published (-pin), which
# fills the origin's two slots; a viewer on r3 or r4 then makes that relay
# join below r1 or r2. Ctrl-C stops every process this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=./bin
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

start() { # name, then flags
  local name=$1; shift
  "$BIN/$ROLE" -node-id "$name" -log-level warn "$@" >"/tmp/relaymesh-demo-$name.log" 2>&1 &
  pids+=($!)
}

ROLE=origin start origin -http 127.0.0.1:8080 -webrtc-udp 127.0.0.1:8189 -gossip 127.0.0.1:7946 -nats-listen 127.0.0.1:4222 -max-children 2
sleep 1
NATS=nats://127.0.0.1:4222
CLUSTER=(-join 127.0.0.1:7946 -nats $NATS -max-children 2)
ROLE=relay start r1 -http 127.0.0.1:8091 -webrtc-udp 127.0.0.1:8191 -gossip 127.0.0.1:7951 "${CLUSTER[@]}" -pin demo
ROLE=relay start r2 -http 127.0.0.1:8092 -webrtc-udp 127.0.0.1:8192 -gossip 127.0.0.1:7952 "${CLUSTER[@]}" -pin demo
ROLE=relay start r3 -http 127.0.0.1:8093 -webrtc-udp 127.0.0.1:8193 -gossip 127.0.0.1:7953 "${CLUSTER[@]}"
ROLE=relay start r4 -http 127.0.0.1:8094 -webrtc-udp 127.0.0.1:8194 -gossip 127.0.0.1:7954 "${CLUSTER[@]}"
sleep 1
printf '%s\n' "origin=${pids[0]} r1=${pids[1]} r2=${pids[2]} r3=${pids[3]} r4=${pids[4]}" >/tmp/relaymesh-demo-pids
cat <<MSG
relaymesh demo: an origin and four relays, two levels deep (logs in /tmp/relaymesh-demo-*.log)
  publish:  open http://127.0.0.1:8080/ and press Start (or WHIP to http://127.0.0.1:8080/whip/demo)
  watch:    WHEP on a relay at depth 2: http://127.0.0.1:8093/whep/demo
            (or its page http://127.0.0.1:8093/ ; the tree is drawn under Topology)
  heal:     kill -9 the relay feeding r3 (its pid is in /tmp/relaymesh-demo-pids):
            r3 moves under another parent in about a second, its viewers stay
  stop:     Ctrl-C
MSG
wait
