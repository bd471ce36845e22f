// Package pki makes and loads the certificates vigil's mutual TLS runs on.
//
// One certificate authority signs the collector's server certificate and
// every client certificate. A client certificate says who the client is and
// what it may do:
//
//   - the Subject CommonName is the client's name (for an agent, its node name);
//   - the Subject OrganizationalUnit holds its role: RoleAgent may call the
//     agent API (send alerts, statuses and drafts, receive profiles) and
//     RoleConsumer may call the consumer API (read alerts, nodes, profiles;
//     change profile modes). A certificate holds exactly one role.
//
// The collector takes the node name from the verified certificate, never
// from a message, so one node cannot speak for another.
package pki
