package approval

import (
	"strings"
	"testing"
)

func TestValidateNamesBadPatterns(t *testing.T) {
	for pat, want := range map[string]string{
		"nginx":                          `write it normalized, as "docker.io/library/nginx"`,
		"docker.io/library/nginx:1.27":   "tag or digest",
		"myacr.azurecr.io/team/*/app":    "last path component",
		"myacr.azurecr.io/te*":           "last path component",
		"MyACR.azurecr.io/Team/*":        "not a repository name",
		"library/*":                      `as "docker.io/library/*"`,
		"docker.io/library/nginx@sha256": "not a repository name",
	} {
		err := Policy{Images: []string{pat}, Action: ActionAlert}.Validate()
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), pat) {
			t.Errorf("%s: got %v, want an error naming it and saying %q", pat, err, want)
		}
	}
	for _, good := range []string{"docker.io/library/nginx", "myacr.azurecr.io/team/*", "myacr.azurecr.io/*", "localhost:5000/app"} {
		if err := (Policy{Images: []string{good}, Action: ActionEnforce}).Validate(); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	if err := (Policy{Action: "block"}).Validate(); err == nil || !strings.Contains(err.Error(), "off, alert or enforce") {
		t.Errorf("action block: %v", err)
	}
	if err := (Policy{Action: ActionAlert}).Validate(); err == nil || !strings.Contains(err.Error(), "every image would be approved") {
		t.Errorf("nothing approved: %v", err)
	}
	if err := (Policy{Action: ActionOff}).Validate(); err != nil {
		t.Errorf("off: %v", err)
	}
}

func TestCheck(t *testing.T) {
	known := func(d string) bool { return d == "sha256:aa" }
	p := Policy{Images: []string{"docker.io/library/busybox"}, RequireKnownDigest: true, Action: ActionEnforce}
	if v := p.Check("busybox:1.36", "sha256:aa", known); !v.Approved {
		t.Errorf("approved repository, known digest: %+v", v)
	}
	if v := p.Check("busybox:1.36", "sha256:bb", known); v.Approved || v.Reason != ReasonUnknownDigest || !strings.Contains(v.Detail, "sha256:bb") {
		t.Errorf("unknown digest: %+v", v)
	}
	if v := p.Check("docker.io/evil/busybox:1", "sha256:aa", known); v.Approved || v.Reason != ReasonRepository {
		t.Errorf("other repository: %+v", v)
	}
	p.RequireKnownDigest = false
	if v := p.Check("busybox", "unknown", known); !v.Approved {
		t.Errorf("digest not required: %+v", v)
	}
	p.Action = ActionOff
	if v := p.Check("docker.io/evil/busybox:1", "", known); !v.Approved {
		t.Errorf("off approves everything: %+v", v)
	}
}
