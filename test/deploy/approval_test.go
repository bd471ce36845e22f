package deploy

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"sigs.k8s.io/yaml"
)

// TestAdmissionPolicyListsTheAgentsImages checks, in every kustomization,
// that the admission policy approves exactly the repositories the agent's
// configuration approves, that its binding names it, and that only the
// enforce overlay denies (the base and the learning overlay warn and audit).
func TestAdmissionPolicyListsTheAgentsImages(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			o := build(t, dir)
			vap, ok := o.admission["vigil-approved-images"]
			if !ok {
				t.Fatal("no ValidatingAdmissionPolicy vigil-approved-images")
			}
			var approvedExpr string
			for _, v := range vap.Spec.Variables {
				if v.Name == "approved" {
					approvedExpr = v.Expression
				}
			}
			env, err := cel.NewEnv()
			if err != nil {
				t.Fatal(err)
			}
			ast, iss := env.Compile(approvedExpr)
			if iss.Err() != nil {
				t.Fatalf("variable approved %q: %v", approvedExpr, iss.Err())
			}
			prog, err := env.Program(ast)
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := prog.Eval(map[string]any{})
			if err != nil {
				t.Fatal(err)
			}
			native, err := out.ConvertToNative(reflect.TypeFor[[]string]())
			if err != nil {
				t.Fatalf("variable approved is not a list of strings: %v", err)
			}
			var agentCfg struct {
				Images []string `json:"approved-images"`
			}
			if err := yaml.Unmarshal([]byte(o.configMaps[agentConfigMap(t, o)].Data["agent.yaml"]), &agentCfg); err != nil {
				t.Fatal(err)
			}
			if got := native.([]string); !slices.Equal(got, agentCfg.Images) || len(got) == 0 {
				t.Errorf("admission policy approves %v, the agent %v", got, agentCfg.Images)
			}

			b, ok := o.bindings["vigil-approved-images"]
			if !ok || b.Spec.PolicyName != vap.Name {
				t.Fatalf("binding %+v does not bind %s", b, vap.Name)
			}
			want := "Warn,Audit"
			if dir == enforceDir || dir == haDir { // ha builds on enforce
				want = "Deny"
			}
			var got []string
			for _, a := range b.Spec.ValidationActions {
				got = append(got, string(a))
			}
			if strings.Join(got, ",") != want {
				t.Errorf("binding's actions %v, want %s", got, want)
			}
			if vap.Namespace != "" || b.Namespace != "" {
				t.Errorf("cluster-scoped objects given namespaces %q, %q", vap.Namespace, b.Namespace)
			}
		})
	}
}

// agentConfigMap is the generated name of the agent's ConfigMap.
func agentConfigMap(t *testing.T, o *objects) string {
	t.Helper()
	for name := range o.configMaps {
		if strings.HasPrefix(name, "vigil-agent-config") {
			return name
		}
	}
	t.Fatal("no agent ConfigMap")
	return ""
}
