package collector

import (
	"net"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
)

// limitedCreds are the server's TLS credentials, counting each client's
// connections against its identity's limit once the handshake says who it
// is. A connection without a usable certificate (possible only when the
// collector serves joins) counts against the cap of anonymous connections
// and is closed after their age; the interceptors refuse its calls but
// joins.
type limitedCreds struct {
	credentials.TransportCredentials
	lm *limiter
}

func (c limitedCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		return nil, nil, err
	}
	id, _, _, err := certIdentity(info)
	if err != nil {
		if err := c.lm.openAnonymous(); err != nil {
			conn.Close()
			return nil, nil, err
		}
		release := sync.OnceFunc(c.lm.closeAnonymous)
		// Bounded in time too, so that idle anonymous connections cannot
		// hold the cap against the next joins.
		timer := time.AfterFunc(c.lm.anonAge, func() { conn.Close() })
		return &countedConn{Conn: conn, release: func() { timer.Stop(); release() }}, info, nil
	}
	if err := c.lm.openConn(id); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return &countedConn{Conn: conn, release: sync.OnceFunc(func() { c.lm.closeConn(id) })}, info, nil
}

func (c limitedCreds) Clone() credentials.TransportCredentials {
	return limitedCreds{TransportCredentials: c.TransportCredentials.Clone(), lm: c.lm}
}

// countedConn gives its identity's connection back when closed.
type countedConn struct {
	net.Conn
	release func()
}

func (c *countedConn) Close() error {
	c.release()
	return c.Conn.Close()
}
