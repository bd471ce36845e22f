package approval

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"sigs.k8s.io/yaml"
)

// The ValidatingAdmissionPolicy that ships beside the DaemonSet.
var admissionManifest = filepath.Join("..", "..", "deploy", "daemonset", "base", "image-approval.yaml")

// testPolicy is the approved list the shared cases are judged against.
var testPolicy = []string{"docker.io/library/nginx", "myacr.azurecr.io/team/*", "localhost:5000/*", "quay.io/org/app"}

const sha = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// sharedCases are image references as a pod spec writes them, approved or
// not under testPolicy: the agent and the admission policy must agree on each.
var sharedCases = map[string]bool{
	"nginx":                                  true,
	"nginx:1.27":                             true,
	"nginx@" + sha:                           true,
	"nginx:1.27@" + sha:                      true,
	"library/nginx":                          true,
	"docker.io/nginx:1":                      true,
	"index.docker.io/library/nginx":          true,
	"docker.io/library/nginx:1.27@" + sha:    true,
	"nginx-evil":                             false,
	"docker.io/library/nginxx":               false,
	"docker.io/someone/nginx":                false,
	"evil.io/docker.io/library/nginx":        false,
	"myacr.azurecr.io/team/app:v1":           true,
	"myacr.azurecr.io/team/sub/app@" + sha:   true,
	"myacr.azurecr.io/team":                  false,
	"myacr.azurecr.io/teamx/app":             false,
	"myacr.azurecr.io/other/app":             false,
	"localhost:5000/app:1":                   true,
	"localhost:5000/a/b":                     true,
	"localhost/app":                          false,
	"localhost:5001/app":                     false,
	"quay.io/org/app@" + sha:                 true,
	"quay.io/org/app2":                       false,
	"quay.io/org/app/sub":                    false,
	"team/app":                               false,
	"mcr.microsoft.com/oss/kubernetes/pause": false,
}

// admissionPolicy is the shipped policy's CEL, compiled.
type admissionPolicy struct {
	variables []namedProgram
	valid     cel.Program
	message   cel.Program
}

type namedProgram struct {
	name string
	prog cel.Program
}

// loadAdmissionPolicy reads and compiles the expressions of the manifest's
// ValidatingAdmissionPolicy, in the environment Kubernetes gives them:
// standard CEL with its macros and the strings extension.
func loadAdmissionPolicy(t *testing.T) admissionPolicy {
	t.Helper()
	b, err := os.ReadFile(admissionManifest)
	if err != nil {
		t.Fatal(err)
	}
	var vap struct {
		Kind string
		Spec struct {
			Variables   []struct{ Name, Expression string }
			Validations []struct {
				Expression, MessageExpression, Reason string
			}
		}
	}
	doc, _, _ := strings.Cut(string(b), "\n---\n")
	if err := yaml.Unmarshal([]byte(doc), &vap); err != nil {
		t.Fatal(err)
	}
	if vap.Kind != "ValidatingAdmissionPolicy" || len(vap.Spec.Validations) != 1 {
		t.Fatalf("%s: want a ValidatingAdmissionPolicy with one validation first, got kind %q with %d", admissionManifest, vap.Kind, len(vap.Spec.Validations))
	}
	env, err := cel.NewEnv(cel.Variable("object", cel.DynType), cel.Variable("variables", cel.MapType(cel.StringType, cel.DynType)),
		ext.Strings(ext.StringsVersion(2)))
	if err != nil {
		t.Fatal(err)
	}
	compile := func(expr string) cel.Program {
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			t.Fatalf("%s: %q: %v", admissionManifest, expr, iss.Err())
		}
		prog, err := env.Program(ast)
		if err != nil {
			t.Fatal(err)
		}
		return prog
	}
	var p admissionPolicy
	for _, v := range vap.Spec.Variables {
		p.variables = append(p.variables, namedProgram{v.Name, compile(v.Expression)})
	}
	p.valid = compile(vap.Spec.Validations[0].Expression)
	p.message = compile(vap.Spec.Validations[0].MessageExpression)
	return p
}

// admit evaluates the policy on a pod; approved, when not nil, stands for
// the manifest's own list of approved repositories.
func (p admissionPolicy) admit(t *testing.T, pod map[string]any, approved []string) (bool, string) {
	t.Helper()
	vars := map[string]any{}
	act := map[string]any{"object": pod, "variables": vars}
	eval := func(prog cel.Program) ref.Val {
		out, _, err := prog.Eval(act)
		if err != nil {
			t.Fatalf("evaluate on %v: %v", pod, err)
		}
		return out
	}
	for _, v := range p.variables {
		if v.name == "approved" && approved != nil {
			vars[v.name] = approved
			continue
		}
		vars[v.name] = eval(v.prog)
	}
	if eval(p.valid).Value() == true {
		return true, ""
	}
	return false, eval(p.message).Value().(string)
}

func pod(containers, initContainers, ephemeral []string) map[string]any {
	list := func(images []string) []any {
		var out []any
		for i, img := range images {
			out = append(out, map[string]any{"name": "c" + string(rune('a'+i)), "image": img})
		}
		return out
	}
	spec := map[string]any{"containers": list(containers)}
	if initContainers != nil {
		spec["initContainers"] = list(initContainers)
	}
	if ephemeral != nil {
		spec["ephemeralContainers"] = list(ephemeral)
	}
	return map[string]any{"apiVersion": "v1", "kind": "Pod", "spec": spec}
}

// TestAgentAndAdmissionAgree judges each shared case with the agent's
// matcher and the shipped admission policy's CEL: both must give the
// expected answer.
func TestAgentAndAdmissionAgree(t *testing.T) {
	vap := loadAdmissionPolicy(t)
	agent := Policy{Images: testPolicy, Action: ActionEnforce}
	if err := agent.Validate(); err != nil {
		t.Fatal(err)
	}
	for image, want := range sharedCases {
		if got := agent.RepositoryApproved(image); got != want {
			t.Errorf("agent: %s approved %v, want %v", image, got, want)
		}
		got, msg := vap.admit(t, pod([]string{image}, nil, nil), testPolicy)
		if got != want {
			t.Errorf("admission: %s approved %v, want %v (%s)", image, got, want, msg)
		}
		if !got && !strings.Contains(msg, "not approve") {
			t.Errorf("admission: %s refused with message %q", image, msg)
		}
	}
}

func TestAdmissionChecksEveryContainerList(t *testing.T) {
	vap := loadAdmissionPolicy(t)
	ok, bad := "nginx:1.27", "docker.io/evil/miner:1"
	for _, tc := range []struct {
		name                 string
		containers, init, ep []string
		want                 bool
	}{
		{"approved", []string{ok, "quay.io/org/app"}, []string{ok}, []string{"localhost:5000/debug"}, true},
		{"container", []string{ok, bad}, nil, nil, false},
		{"init container", []string{ok}, []string{bad}, nil, false},
		{"ephemeral container", []string{ok}, []string{ok}, []string{bad}, false},
	} {
		got, msg := vap.admit(t, pod(tc.containers, tc.init, tc.ep), testPolicy)
		if got != tc.want {
			t.Errorf("%s: admitted %v, want %v", tc.name, got, tc.want)
		}
		if !tc.want && !strings.Contains(msg, "docker.io/evil/miner") {
			t.Errorf("%s: message %q does not name the image's repository", tc.name, msg)
		}
	}
	if got, _ := vap.admit(t, pod([]string{bad}, nil, nil), []string{}); !got {
		t.Error("an empty list refused an image: it approves every image, as the agent's does")
	}
}

// TestShippedListIsTheAgents checks the manifest's own list: valid for the
// agent, and applied as the agent applies it.
func TestShippedListIsTheAgents(t *testing.T) {
	vap := loadAdmissionPolicy(t)
	approved := vap.evalApproved(t)
	if err := (Policy{Images: approved, Action: ActionEnforce}).Validate(); err != nil {
		t.Fatalf("the admission policy's list is not a valid agent policy: %v", err)
	}
	agent := Policy{Images: approved, Action: ActionEnforce}
	for _, image := range []string{"vigil-agent:dev", "registry.k8s.io/pause:3.10", "mcr.microsoft.com/oss/kubernetes/pause:3.6", "busybox", "nginx"} {
		want := agent.RepositoryApproved(image)
		if got, msg := vap.admit(t, pod([]string{image}, nil, nil), nil); got != want {
			t.Errorf("%s: admission %v (%s), agent %v", image, got, msg, want)
		}
	}
}

// evalApproved is the manifest's approved list.
func (p admissionPolicy) evalApproved(t *testing.T) []string {
	for _, v := range p.variables {
		if v.name != "approved" {
			continue
		}
		out, _, err := v.prog.Eval(map[string]any{"object": map[string]any{}, "variables": map[string]any{}})
		if err != nil {
			t.Fatal(err)
		}
		list, err := out.ConvertToNative(reflect.TypeFor[[]string]())
		if err != nil {
			t.Fatal(err)
		}
		return list.([]string)
	}
	t.Fatalf("%s: no variable approved", admissionManifest)
	return nil
}
