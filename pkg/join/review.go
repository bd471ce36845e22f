package join

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	authnv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authnclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	coreclient "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// The keys of a pod-bound token's user.extra (set by the API server's
// ServiceAccount authenticator).
const (
	extraPodName  = "authentication.kubernetes.io/pod-name"
	extraPodUID   = "authentication.kubernetes.io/pod-uid"
	extraNodeName = "authentication.kubernetes.io/node-name"
)

// Reasons a join is refused (vigil_collector_joins_total{result}).
const (
	reasonBadRequest   = "bad_request"
	reasonInvalidToken = "invalid_token"
	reasonExpiring     = "token_expiring"
	reasonWrongAccount = "wrong_service_account"
	reasonNotPodBound  = "not_pod_bound"
	reasonPodGone      = "pod_gone"
	reasonNotScheduled = "not_scheduled"
	reasonAPIError     = "api_error"
	reasonBusy         = "busy"
	reasonSignError    = "sign_error"
)

// refusal is a join refused, with the reason it is counted under.
type refusal struct {
	reason string
	code   codes.Code
	msg    string
}

func (r *refusal) Error() string { return r.msg }

func refuse(reason string, code codes.Code, format string, args ...any) *refusal {
	return &refusal{reason: reason, code: code, msg: fmt.Sprintf(format, args...)}
}

// reviewer verifies tokens with the Kubernetes API.
type reviewer struct {
	reviews  authnclient.TokenReviewInterface
	pods     coreclient.PodsGetter
	audience string
	// username is the only user a token may authenticate as.
	username, namespace string
}

// KubeConfig is the Kubernetes API client configuration from a kubeconfig
// file, or the pod's own (in-cluster) when the path is empty.
func KubeConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster Kubernetes config (or give a kubeconfig): %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}

func newReviewer(cfg *rest.Config, audience, namespace, serviceAccount string) (*reviewer, error) {
	authn, err := authnclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("authentication client: %w", err)
	}
	core, err := coreclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("core client: %w", err)
	}
	return &reviewer{reviews: authn.TokenReviews(), pods: core, audience: audience,
		username: "system:serviceaccount:" + namespace + ":" + serviceAccount, namespace: namespace}, nil
}

// node verifies token and returns the node of the pod it is bound to.
func (r *reviewer) node(ctx context.Context, token string) (node, pod string, err error) {
	tr, err := r.reviews.Create(ctx, &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: token, Audiences: []string{r.audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", "", refuse(reasonAPIError, codes.Unavailable, "review the token with the Kubernetes API: %v", err)
	}
	st := tr.Status
	if !st.Authenticated {
		msg := st.Error
		if msg == "" {
			msg = "not authenticated"
		}
		return "", "", refuse(reasonInvalidToken, codes.Unauthenticated, "token refused by the Kubernetes API: %s", msg)
	}
	// The API server answers with the audiences the token is valid for
	// among those asked; an empty answer would mean its own default ones.
	if !slices.Contains(st.Audiences, r.audience) {
		return "", "", refuse(reasonInvalidToken, codes.Unauthenticated, "token is not for audience %q", r.audience)
	}
	if st.User.Username != r.username {
		return "", "", refuse(reasonWrongAccount, codes.PermissionDenied, "token of %s, want %s", st.User.Username, r.username)
	}
	name, uid := one(st.User.Extra[extraPodName]), one(st.User.Extra[extraPodUID])
	if name == "" || uid == "" {
		return "", "", refuse(reasonNotPodBound, codes.PermissionDenied, "token of %s is not bound to a pod", st.User.Username)
	}
	p, err := r.pods.Pods(r.namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "", "", refuse(reasonPodGone, codes.PermissionDenied, "pod %s/%s of the token no longer exists", r.namespace, name)
	case err != nil:
		return "", "", refuse(reasonAPIError, codes.Unavailable, "read pod %s/%s: %v", r.namespace, name, err)
	case string(p.UID) != uid:
		return "", "", refuse(reasonPodGone, codes.PermissionDenied, "pod %s/%s of the token was deleted (uid %s, now %s)", r.namespace, name, uid, p.UID)
	case p.Spec.NodeName == "":
		return "", "", refuse(reasonNotScheduled, codes.FailedPrecondition, "pod %s/%s is on no node", r.namespace, name)
	}
	// Newer API servers name the node in the token too; it must agree.
	if n := one(st.User.Extra[extraNodeName]); n != "" && n != p.Spec.NodeName {
		return "", "", refuse(reasonPodGone, codes.PermissionDenied, "token names node %s, its pod %s/%s is on %s", n, r.namespace, name, p.Spec.NodeName)
	}
	return p.Spec.NodeName, r.namespace + "/" + name, nil
}

// one is the single value of a user.extra entry, "" unless there is exactly one.
func one(v authnv1.ExtraValue) string {
	if len(v) != 1 {
		return ""
	}
	return strings.TrimSpace(v[0])
}
