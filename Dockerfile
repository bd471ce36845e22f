# vigil's container images, from one multi-stage build:
#
#   docker build --target agent     -t vigil-agent .       # the node agent (DaemonSet)
#   docker build --target collector -t vigil-collector .   # the collector (and vigilctl)
#
# Both final images are FROM scratch: static Go binaries (CGO_ENABLED=0), the
# CA bundle and a passwd file, nothing else: no shell, no package manager.
# The agent runs as uid 0 with the few capabilities deploy/daemonset grants
# it; the collector runs as uid 65532 with none. Where no registry is in
# reach, `make image` (deploy/image/build.sh) builds this same file with
# buildah, GO_IMAGE set to a Go toolchain image assembled locally.

ARG GO_IMAGE=golang:1.26.8-bookworm

FROM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN go build -trimpath -ldflags "-s -w -X github.com/vigil-dev/vigil/pkg/buildinfo.Version=${VERSION}" \
        -o /out/ ./cmd/vigil-agent ./cmd/vigil-collector ./cmd/vigilctl \
    && mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp /rootfs/var/lib/vigil \
    && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
    && printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' > /rootfs/etc/passwd \
    && printf 'root:x:0:\nnonroot:x:65532:\n' > /rootfs/etc/group \
    && chmod 1777 /rootfs/tmp \
    && chown 65532:65532 /rootfs/var/lib/vigil

# The collector: non-root, listens on 7443 (gRPC, mTLS) and 7080 (HTTP
# /metrics, /healthz, /readyz); its SQLite store lives in /var/lib/vigil.
FROM scratch AS collector
COPY --from=build /rootfs/ /
COPY --from=build /out/vigil-collector /out/vigilctl /usr/bin/
USER 65532:65532
EXPOSE 7443 7080
ENTRYPOINT ["/usr/bin/vigil-collector"]

# The node agent: uid 0 (its hostPath state and the containerd socket are
# root's), capabilities from the pod's securityContext; /metrics, /healthz and
# /readyz on --metrics-addr.
FROM scratch AS agent
COPY --from=build /rootfs/ /
COPY --from=build /out/vigil-agent /usr/bin/
USER 0:0
ENTRYPOINT ["/usr/bin/vigil-agent"]
CMD ["run"]
