# vigil — build, generate, test, benchmark and run.
# Run as root: loading BPF programs and starting containerd need it.

GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/vigil-dev/vigil/pkg/buildinfo.Version=$(VERSION)
TEST_TIMEOUT ?= 14m
RUN_ARGS  ?=
DEMO_ARGS ?=
BENCH_ARGS ?=

export CGO_ENABLED := 0

.PHONY: all build generate generate-check vmlinux test race staticcheck crossbuild checks ci vmtest bench run demo lint deps image chart

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# Generated code depends only on committed inputs and pinned tools, never on
# the build host: bpf/include/vmlinux.h is committed and changes only through
# `make vmlinux`; the BPF objects are compiled by Debian bookworm's clang-14,
# the protobuf stubs by its protoc and the Go plugins pinned in go.mod.
CLANG_VERSION  := 14.0.6
PROTOC_VERSION := 3.21.12

# Regenerates every committed generated file (bpf2go objects and bindings,
# protobuf stubs) from the committed sources.
generate:
	test/deps.sh generate
	@clang-14 --version | grep -q 'clang version $(CLANG_VERSION)$$' || { \
		echo "make generate: the BPF objects are pinned to clang $(CLANG_VERSION) (Debian's clang-14), found: $$(clang-14 --version | head -1)" >&2; exit 1; }
	@protoc --version | grep -qx 'libprotoc $(PROTOC_VERSION)' || { \
		echo "make generate: the protobuf stubs are pinned to protoc $(PROTOC_VERSION), found: $$(protoc --version)" >&2; exit 1; }
	BPF2GO_CC=clang-14 $(GO) generate ./...

# CI: the committed generated code must be what `make generate` produces from
# the committed sources.
generate-check: generate
	@if [ -n "$$(git status --porcelain)" ]; then \
		echo "generated code is stale; run make generate and commit:"; \
		git status --porcelain; git diff --stat; exit 1; \
	fi

# Deliberately moves the BPF programs to this machine's kernel's types:
# rewrites bpf/include/vmlinux.h from its BTF (naming the kernel in the
# header), then regenerates. Commit both; never part of CI.
vmlinux:
	test/deps.sh generate
	{ echo "/* BTF types of Linux $$(uname -r) ($$(uname -v)), dumped by bpftool $$(bpftool version | sed -n 's/^bpftool //p'); update with make vmlinux. */"; \
		bpftool btf dump file /sys/kernel/btf/vmlinux format c; } > bpf/include/vmlinux.h
	$(MAKE) generate

# The agent and collector images of the Dockerfile, built with buildah into
# OCI archives in bin/images (deploy/image/build.sh says how, without a
# registry). test/deploy runs them in a real containerd.
image:
	test/deps.sh image
	VERSION=$(VERSION) deploy/image/build.sh

# test/kube/build.sh builds the API server test/kubeenv runs, once per
# machine (15-75 minutes the first time; cached in /var/cache/vigil-kube).
test: image
	test/deps.sh test vm apps kube
	test/kube/build.sh
	VIGIL_ROOT_TESTS=1 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# Runs a package's tests inside the test VM (Debian's kernel with BPF LSM,
# booted under qemu; see test/vm):
#   make vmtest PKG=./test/vm/lsmproof [RUN=TestDenyExec] [VMTEST_ARGS=-v]
vmtest:
	@test -n "$(PKG)" || { echo "usage: make vmtest PKG=./pkg/x [RUN=TestY] [VMTEST_ARGS=-v]" >&2; exit 2; }
	test/deps.sh vm
	$(GO) build -o $(BIN)/vmexec ./test/vm/cmd/vmexec
	VIGIL_ROOT_TESTS=1 $(GO) test -count=1 -exec "$(CURDIR)/$(BIN)/vmexec -v" $(if $(RUN),-run '$(RUN)') $(VMTEST_ARGS) $(PKG)

# The bench binary also runs the loops inside its busybox container: static.
bench: build
	test/deps.sh bench
	CGO_ENABLED=0 VIGIL_ROOT_TESTS=1 $(GO) run ./test/bench --agent $(BIN)/vigil-agent $(BENCH_ARGS)

# The main job: the agent and a collector with its embedded store, on this node.
run: build
	BIN=$(BIN) RUN_ARGS='$(RUN_ARGS)' deploy/local/run.sh

# A first look on a bare node: a private containerd if none runs, an image
# built here, and its container learned, monitored and enforced (test/demo).
demo: build
	test/deps.sh demo
	$(GO) run ./test/demo --bin $(BIN) $(DEMO_ARGS)

# Every fuzz target for FUZZTIME each (10s), one after the other, on top of
# its seed corpus; a failure leaves the input in the package's
# testdata/fuzz. Bounded, so CI can run it:
#   make fuzz [FUZZTIME=1m]
FUZZTIME ?= 10s
FUZZ_TARGETS := \
	./pkg/sensor:FuzzDecode \
	./pkg/trace:FuzzEncoderStrings \
	./pkg/collector:FuzzAlertValidation \
	./pkg/collector:FuzzConfigFile \
	./pkg/ship:FuzzSpoolTornWrite

.PHONY: fuzz
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

staticcheck:
	$(GO) tool staticcheck ./...

# The Helm chart (deploy/helm/vigil), linted as `helm lint --strict` does and
# packaged as `helm package` does into bin/vigil-<version>.tgz, its
# appVersion (the images' default tag) the version `make image` tags with.
# Helm's own library does both; no helm binary is needed.
chart:
	$(GO) run ./deploy/helm -app-version '$(VERSION)' -out $(BIN) deploy/helm/vigil

# vigilctl runs on operators' laptops: it must build for macOS and Windows,
# where a Linux-only call (unix.TCGETS was one) breaks it while every Linux
# build and test passes.
CROSS_TARGETS := darwin/amd64 darwin/arm64 windows/amd64
crossbuild:
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
	for t in $(CROSS_TARGETS); do \
		echo "GOOS=$${t%/*} GOARCH=$${t#*/} go build ./cmd/vigilctl"; \
		GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build -o "$$out/$${t%/*}-$${t#*/}/" ./cmd/vigilctl || exit 1; \
	done

# The race detector over the tests that need neither root nor the test
# packages (VIGIL_ROOT_TESTS unset: those skip), which also proves that a plain
# `go test ./...` skips cleanly. The race detector needs cgo and gcc.
race:
	test/deps.sh race
	env -u VIGIL_ROOT_TESTS CGO_ENABLED=1 $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

# Every check but the tests, in the order that lets the race job see a root
# where no test package is installed yet. CI (.ci/run) runs it, then make
# test, inside a fresh Debian root; make ci does both here.
checks: lint race staticcheck crossbuild fuzz generate-check

ci: checks test
