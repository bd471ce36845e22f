package profile

import (
	"strings"
	"testing"
	"time"
)

func TestNotReady(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	learned := func(lastNew time.Duration, containers int, incomplete ...IncompleteReason) *Profile {
		p := &Profile{}
		p.Metadata.Learning.LastNewEntry = now.Add(-lastNew)
		for i := range containers {
			p.Metadata.Learning.Containers.add(strings.Repeat(string(rune('a'+i)), 12), 16)
		}
		p.Metadata.Learning.Incomplete = incomplete
		return p
	}
	for _, tc := range []struct {
		name string
		p    *Profile
		want []string // substrings, one per reason
	}{
		{"stable, two containers, complete", learned(25*time.Hour, 2), nil},
		{"still learning", learned(time.Hour, 3), []string{"learned a new entry 1h0m0s ago (ready after 24h0m0s"}},
		{"one container", learned(48*time.Hour, 1), []string{"learned from 1 container(s) (ready from 2"}},
		{"events missed", learned(48*time.Hour, 2, IncompleteReason{Reason: "events of its containers lost", Count: 7}),
			[]string{"incomplete: events of its containers lost (7)"}},
		{"nothing learned", &Profile{}, []string{"nothing learned", "learned from 0 container(s)"}},
	} {
		got := tc.p.NotReady(now, DefaultReadiness)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %q, want %d reasons %q", tc.name, got, len(tc.want), tc.want)
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: reason %q, want it to say %q", tc.name, got[i], w)
			}
		}
	}
}
