module github.com/vigil-dev/vigil

go 1.26.8

tool github.com/cilium/ebpf/cmd/bpf2go

require gopkg.in/yaml.v3 v3.0.1

require (
	github.com/cilium/ebpf v0.22.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
