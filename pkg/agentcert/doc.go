// Package agentcert gives a node agent its client certificate by joining
// the collector with its pod's projected ServiceAccount token (pkg/join
// serves the other side). The key is made here and never leaves the agent;
// the certificate is kept in memory and handed to TLS at each handshake, and
// renewed with the kubelet's current token at two thirds of its life, with
// no restart. While the collector is down the joiner retries with backoff;
// connections made meanwhile wait for the first certificate.
package agentcert
