# relaymesh: a WebRTC broadcast relay mesh.
#   make run    start an origin with embedded NATS and print where to publish and watch
#   make test   install what the tests need (ffmpeg, Chromium, npm packages) and run every test
#   make lint   gofmt, go vet, staticcheck
GO        ?= go
BIN       := bin
BINARIES  := origin relay ingest
PKGS      := ./...
FUZZTIME  ?= 20s
# AAC to Opus transcoding (RTMP and RTSP audio) needs cgo and FFmpeg's and
# libopus's -dev packages (make test-deps installs them as root); without
# them the binaries build anyway and drop AAC audio with a log line.
# Evaluated when used, so after test-deps has run.
TAGS       = $(shell pkg-config --exists libavcodec libswresample libavutil opus 2>/dev/null && echo transcode)

.PHONY: all build run demo test test-deps bench loadtest lint fuzz image clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -tags "$(TAGS)" -o $(BIN)/ $(addprefix ./cmd/,$(BINARIES)) ./cmd/loadtest

run: build
	./$(BIN)/origin $(ARGS)

# An origin and four relays on this machine, two levels deep.
demo: build
	./scripts/demo.sh

test-deps:
	@./scripts/test-deps.sh

# Every test, with the race detector. Tests that need ffmpeg or Chromium
# fail (never skip) when they are missing.
test: test-deps
	$(GO) vet -tags "$(TAGS)" $(PKGS)
	$(GO) test -tags "$(TAGS)" -race -count=1 -timeout 20m $(PKGS)

# Go benchmarks (fan-out hot path), the load tool at N = 50, 100, 200, a
# chain of three relays (latency per hop, cold-relay first frame), kill -9
# of a middle relay (failover gap below it), and RTMP/RTSP ingest (latency
# added, CPU per stream with and without AAC transcoding), and the abuse
# figures (idle connections, offer bursts, half-open offers, a NACK flood),
# recordings of each kind of publisher (and what a kill -9 loses), kill -9
# of a stream's origin (the publisher moving to another) and a publisher's
# reconnect, kill -9 of an origin whose stream has a backup publisher (and
# the primary's return), a relay draining with a relay below it, and kill -9s
# that sink a tree past its depth bound (the time to rebalance). The capacity
# runs put the origin alone on CPU 0 and the load tool's light viewers on CPU 1,
# the build of issue 17's base commit (bin/origin-base) beside the new one, over
# loopback and (-veth, as root) across a veth pair from a namespace of the
# origin's own, its viewers' receive path on CPU 1 as on a real network.
# The first two alternate the builds three times at 100 and 300 viewers and
# compare their mean CPU per viewer: one run's figure varies by 10-30% on a
# shared machine.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 200000x ./fanout/
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 20000x ./internal/gso/
	$(GO) test -run '^$$' -bench 'Egress|Seal' -benchmem -benchtime 20000x ./internal/rtc/
	./$(BIN)/loadtest -viewers 50,100,200 -duration 20s
	./$(BIN)/loadtest -floor 300 -duration 15s
	TAGS="$(TAGS)" ./scripts/base-origin.sh
	taskset -c 1 ./$(BIN)/loadtest -capacity -rounds 3 -builds new=$(BIN)/origin,base=$(BIN)/origin-base -media 2M -viewers 100,300 -duration 15s
	taskset -c 1 ./$(BIN)/loadtest -capacity -rounds 3 -builds new=$(BIN)/origin,base=$(BIN)/origin-base -media 600k -viewers 100,300 -duration 15s
	taskset -c 1 ./$(BIN)/loadtest -capacity -builds new=$(BIN)/origin,base=$(BIN)/origin-base -media 2M -viewers 100,300,600,700,800 -duration 15s
	taskset -c 1 ./$(BIN)/loadtest -capacity -builds new=$(BIN)/origin,base=$(BIN)/origin-base -media 600k -viewers 100,300,600,900,1000,1200 -duration 15s
	taskset -c 1 ./$(BIN)/loadtest -capacity -veth -builds new=$(BIN)/origin,base=$(BIN)/origin-base -media 2M -viewers 100,300,600,700,800 -duration 15s
	taskset -c 1 ./$(BIN)/loadtest -capacity -veth -builds new=$(BIN)/origin,base=$(BIN)/origin-base -media 600k -viewers 100,300,600,900,1000,1200 -duration 15s
	./$(BIN)/loadtest -chain 3 -per-depth 10 -duration 15s
	./$(BIN)/loadtest -failover 5 -below 10
	./$(BIN)/loadtest -ingest 4 -duration 15s
	./$(BIN)/loadtest -abuse 18000
	./$(BIN)/loadtest -record
	./$(BIN)/loadtest -origin-kill 5
	./$(BIN)/loadtest -backup 5
	./$(BIN)/loadtest -drain 5
	./$(BIN)/loadtest -rebalance 3
	./$(BIN)/loadtest -redirect 30 -spread 300
	./$(BIN)/loadtest -simulcast 2

loadtest: build
	./$(BIN)/loadtest $(ARGS)

# The container image with podman (the Dockerfile's "local" target: the
# binaries built here on scratch). docker build -t relaymesh . builds the
# default target, compiled in golang on distroless.
image:
	@./scripts/image.sh

# gofmt, go vet and staticcheck (a pinned version through go run: nothing
# to install), with and without the transcode tag. CI runs it.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) vet -tags "$(TAGS)" $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)
	$(GO) run $(STATICCHECK) -tags "$(TAGS)" $(PKGS)

# Each fuzz target for FUZZTIME (go test -fuzz takes one target at a time).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseOffer$$' -fuzztime $(FUZZTIME) ./internal/webrtchttp/
	$(GO) test -run '^$$' -fuzz '^FuzzParseFragment$$' -fuzztime $(FUZZTIME) ./internal/webrtchttp/
	$(GO) test -run '^$$' -fuzz '^FuzzOfferedCodecs$$' -fuzztime $(FUZZTIME) ./internal/rtc/
	$(GO) test -run '^$$' -fuzz '^FuzzIsKeyframe$$' -fuzztime $(FUZZTIME) ./internal/codec/
	$(GO) test -run '^$$' -fuzz '^FuzzFLVTags$$' -fuzztime $(FUZZTIME) ./ingest/rtmp/
	$(GO) test -run '^$$' -fuzz '^FuzzDecide$$' -fuzztime $(FUZZTIME) ./internal/auth/
	$(GO) test -run '^$$' -fuzz '^FuzzLinkHeader$$' -fuzztime $(FUZZTIME) ./ingest/upstream/
	$(GO) test -tags "$(TAGS)" -run '^$$' -fuzz '^FuzzAACDepacketize$$' -fuzztime $(FUZZTIME) ./ingest/rtsp/
	$(GO) test -tags "$(TAGS)" -run '^$$' -fuzz '^FuzzAACToOpus$$' -fuzztime $(FUZZTIME) ./ingest/transcode/

clean:
	rm -rf $(BIN)
