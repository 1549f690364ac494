# relaymesh images: static binaries, no shell, running as non-root
# (65532). The Kubernetes manifests (deploy/k8s) run /usr/local/bin/origin,
# /usr/local/bin/relay and /usr/local/bin/ingest from it. Built without cgo,
# these binaries drop AAC audio (they say so at start); transcoding needs a
# cgo build against FFmpeg and libopus.
#
#   docker build -t relaymesh .            the default target, "image":
#                                          compiled in golang, on distroless
#   make image                             target "local": binaries built on
#                                          this machine, on scratch (podman,
#                                          no registry needed)

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/origin ./cmd/relay ./cmd/ingest

FROM scratch AS local
COPY bin/static/origin bin/static/relay bin/static/ingest /usr/local/bin/
USER 65532:65532
EXPOSE 8080 8189/udp 8443 7946 7946/udp
ENTRYPOINT ["/usr/local/bin/origin"]

FROM gcr.io/distroless/static-debian12:nonroot AS image
COPY --from=build /out/origin /out/relay /out/ingest /usr/local/bin/
USER 65532:65532
EXPOSE 8080 8189/udp 8443 7946 7946/udp
ENTRYPOINT ["/usr/local/bin/origin"]
