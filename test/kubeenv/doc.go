// Package kubeenv runs a real Kubernetes API server for tests: Debian's
// etcd-server and the kube-apiserver that test/kube/build.sh builds, on
// loopback ports of their own, with RBAC, client-certificate and
// ServiceAccount-token authentication, and an admin kubeconfig for kubectl.
//
// Nothing else of a cluster runs: no kubelet (pods stay Pending; a pod
// created with spec.nodeName is bound to that node), no controller manager
// (a namespace gets no "default" ServiceAccount, so create the
// ServiceAccount a pod names; deleted namespaces stay Terminating; nothing
// is garbage-collected), no scheduler. The API itself is complete: CRDs,
// admission (CEL validation, ValidatingAdmissionPolicy), RBAC, TokenRequest,
// TokenReview, server-side apply and dry-run.
//
// Tests using it skip unless VIGIL_ROOT_TESTS is set (`make test` sets it,
// after installing etcd-server and building the API server).
package kubeenv
