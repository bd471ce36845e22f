package ship

import (
	"math/rand/v2"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// collectorTarget turns Options.Target into a gRPC target. A list of
// addresses (collector replicas reached without a load-balancing Service)
// becomes one channel over all of them, in an order of this agent's own so
// that agents spread: gRPC's pick_first connects to the first that answers
// and, when that connection breaks, to the first that answers again. Every
// call on the channel (alerts, status, drafts, profiles) fails over with it.
func collectorTarget(target string) (string, []grpc.DialOption) {
	var addrs []resolver.Address
	for a := range strings.SplitSeq(target, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = a
		}
		// The TLS server name of each address is its own host.
		addrs = append(addrs, resolver.Address{Addr: a, ServerName: host})
	}
	if len(addrs) < 2 {
		return target, nil
	}
	rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
	r := manual.NewBuilderWithScheme("vigil-collectors")
	r.InitialState(resolver.State{Addresses: addrs})
	return r.Scheme() + ":///collectors", []grpc.DialOption{grpc.WithResolvers(r)}
}
