package testutil

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

// ListenLoopback accepts TCP connections on a loopback port, closing each at
// once, until the test ends, and returns its address.
func ListenLoopback(tb testing.TB) *net.TCPAddr {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go acceptAndClose(ln)
	return ln.Addr().(*net.TCPAddr)
}

func acceptAndClose(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// FreeAddr returns a loopback address whose port was free a moment ago, for
// a server the test starts in another process or by address. It never
// returns one port twice in a process: the kernel may hand a port it has
// just closed to the next bind, and two servers a test starts together (an
// etcd's client and peer listeners) were given the same one. Rejected
// listeners stay open while it looks further, so the kernel cannot offer
// them again.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	var rejected []net.Listener
	defer func() {
		for _, ln := range rejected {
			ln.Close()
		}
	}()
	for {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			ln.Close()
			return ln.Addr().String()
		}
		rejected = append(rejected, ln)
	}
}

var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePort is FreeAddr's port.
func FreePort(tb testing.TB) int {
	tb.Helper()
	_, port, err := net.SplitHostPort(FreeAddr(tb))
	if err != nil {
		tb.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// ListenUnix accepts connections on a unix socket at path ("@name" for an
// abstract one), closing each at once, until the test ends.
func ListenUnix(tb testing.TB, path string) {
	tb.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go acceptAndClose(ln)
}
