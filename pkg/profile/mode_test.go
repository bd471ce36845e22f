package profile

import (
	"strings"
	"testing"
)

func TestModePrecedence(t *testing.T) {
	digest := testDigest("api")
	prof := func(m Mode) *Profile { return &Profile{Metadata: Metadata{Digest: digest, Mode: m}} }
	policy := ModePolicy{
		Default:    ModeLearn,
		Namespaces: map[string]Mode{"prod": ModeEnforce, "dev": ModeLearn},
		Images:     map[string]Mode{"shop/api:2.1": ModeMonitor},
	}
	withDigest := policy
	withDigest.Images = map[string]Mode{"shop/api:2.1": ModeMonitor, digest: ModeEnforce}
	for _, tc := range []struct {
		name   string
		policy ModePolicy
		q      ModeQuery
		mode   Mode
		source ModeSource
	}{
		{"default", policy, ModeQuery{Namespace: "other", Image: "x", Digest: digest}, ModeLearn, SourceDefault},
		{"empty default is learn", ModePolicy{}, ModeQuery{Digest: digest}, ModeLearn, SourceDefault},
		{"namespace over default", policy, ModeQuery{Namespace: "prod", Image: "x", Digest: digest, Profile: prof("")}, ModeEnforce, SourceNamespace},
		{"profile over namespace", policy, ModeQuery{Namespace: "prod", Image: "x", Digest: digest, Profile: prof(ModeMonitor)}, ModeMonitor, SourceProfile},
		{"image name over profile", policy, ModeQuery{Namespace: "prod", Image: "shop/api:2.1", Digest: digest, Profile: prof(ModeEnforce)}, ModeMonitor, SourceImageName},
		{"digest over image name", withDigest, ModeQuery{Namespace: "dev", Image: "shop/api:2.1", Digest: digest, Profile: prof(ModeLearn)}, ModeEnforce, SourceImageDigest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.policy.Resolve(tc.q)
			if d.Mode != tc.mode || d.Source != tc.source || d.Requested != tc.mode {
				t.Errorf("Resolve = %+v, want %s from %s", d, tc.mode, tc.source)
			}
		})
	}
}

func TestEnforceWithoutProfileMonitors(t *testing.T) {
	d := ModePolicy{Namespaces: map[string]Mode{"prod": ModeEnforce}}.Resolve(ModeQuery{Namespace: "prod", Digest: "sha256:ab"})
	if d.Mode != ModeMonitor || d.Requested != ModeEnforce || d.Source != SourceNamespace {
		t.Errorf("Resolve = %+v, want monitor instead of the requested enforce", d)
	}
	for _, want := range []string{`namespace "prod"`, "no profile", "monitoring instead"} {
		if !strings.Contains(d.Reason, want) {
			t.Errorf("reason %q lacks %q", d.Reason, want)
		}
	}
}

func TestModePolicyValidate(t *testing.T) {
	if err := (ModePolicy{Default: ModeMonitor, Namespaces: map[string]Mode{"a": ModeLearn}}).Validate(); err != nil {
		t.Errorf("valid policy: %v", err)
	}
	err := ModePolicy{Images: map[string]Mode{"nginx": "block"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), `image "nginx"`) {
		t.Errorf("bad image mode: %v", err)
	}
}
