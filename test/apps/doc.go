// Package apps is a corpus of real applications built from Debian's
// packages (nginx, PostgreSQL 15, and notes, a Python web application of
// our own) and the measurement of how well a profile the agent learned
// fits each: learn with one traffic mix, then monitor and enforce with a
// different but legitimate one, and count the false positives and the
// requests that failed.
//
// Images come from test/appimage (mmdebstrap, cached outside the clone);
// containers run in test/containerd's private containerd; traffic is sent
// from the host into each container's network namespace, so the client is
// never part of what is learned.
package apps
