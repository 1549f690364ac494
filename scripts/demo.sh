#!/usr/bin/env bash
# A cluster on this machine: one origin and four relays, two levels deep.
#   origin ── r1 ── r3
#         └── r2 ── r4
# Relays r1 and r2 pull from the origin through the stream directory; r3 and
# r4 use a static -upstream on r1 and r2 (the automatic tree, where relays
# pick their parents themselves, is the relay mesh's next step).
# Ctrl-C stops every process this script started.
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

ROLE=origin start origin -http 127.0.0.1:8080 -webrtc-udp 127.0.0.1:8189 -gossip 127.0.0.1:7946 -nats-listen 127.0.0.1:4222
sleep 1
NATS=nats://127.0.0.1:4222
ROLE=relay start r1 -http 127.0.0.1:8091 -webrtc-udp 127.0.0.1:8191 -gossip 127.0.0.1:7951 -join 127.0.0.1:7946 -nats $NATS
ROLE=relay start r2 -http 127.0.0.1:8092 -webrtc-udp 127.0.0.1:8192 -gossip 127.0.0.1:7952 -join 127.0.0.1:7946 -nats $NATS
ROLE=relay start r3 -http 127.0.0.1:8093 -webrtc-udp 127.0.0.1:8193 -gossip 127.0.0.1:7953 -join 127.0.0.1:7946 -nats $NATS -upstream http://127.0.0.1:8091
ROLE=relay start r4 -http 127.0.0.1:8094 -webrtc-udp 127.0.0.1:8194 -gossip 127.0.0.1:7954 -join 127.0.0.1:7946 -nats $NATS -upstream http://127.0.0.1:8092
sleep 1
cat <<MSG
relaymesh demo: an origin and four relays, two levels deep (logs in /tmp/relaymesh-demo-*.log)
  publish:  open http://127.0.0.1:8080/ and press Start (or WHIP to http://127.0.0.1:8080/whip/demo)
  watch:    WHEP on the deepest relay: http://127.0.0.1:8093/whep/demo
            (or its page http://127.0.0.1:8093/ ; the tree is drawn under Topology)
  stop:     Ctrl-C
MSG
wait
