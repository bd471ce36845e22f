// Package vigilv1 holds the Go stubs generated from proto/vigil/v1: the
// messages agents, the collector and vigilctl exchange, and the AgentService,
// ConsumerService and JoinService gRPC clients and servers.
//
// The stubs are committed so that a plain go build needs no protoc. Regenerate
// them with go generate (make generate); protoc comes from Debian's
// protobuf-compiler, the plugins are go tool entries pinned in go.mod.
package vigilv1

//go:generate sh -c "protoc -I ../../../proto -I /usr/include --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --plugin=protoc-gen-go-grpc=$(go tool -n protoc-gen-go-grpc) --go_out=../../.. --go_opt=module=github.com/vigil-dev/vigil --go-grpc_out=../../.. --go-grpc_opt=module=github.com/vigil-dev/vigil ../../../proto/vigil/v1/*.proto"
