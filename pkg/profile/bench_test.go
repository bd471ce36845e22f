package profile

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
)

// bigProfile builds a 1 000-entry profile shaped like a real one: 200
// executables, 600 files in a deep tree with some wildcards, 190 network
// destinations and 10 unix sockets (plus a few capabilities on top).
func bigProfile(tb testing.TB) *Profile {
	d := mustDraft(tb, "big", Limits{CollapseThreshold: 1000, NetCollapseThreshold: 1000})
	var obs []Observation
	for i := 0; i < 200; i++ {
		obs = append(obs, execObs(fmt.Sprintf("/usr/lib/pkg%d/bin/tool%d", i%40, i)))
	}
	for i := 0; i < 600; i++ {
		obs = append(obs, openObs(fmt.Sprintf("/usr/share/app/mod%d/sub%d/file%d.dat", i%30, i%7, i), AccessRead))
	}
	for i := 0; i < 190; i++ {
		obs = append(obs, connObs(fmt.Sprintf("10.%d.%d.%d", i%5, i%11, i), uint16(1000+i), TCP))
	}
	for i := 0; i < 10; i++ {
		obs = append(obs, unixObs(fmt.Sprintf("/run/svc%d/api.sock", i)))
	}
	obs = append(obs, capObs(10), capObs(13))
	observeAll(tb, d, "c", "n", t0, obs...)
	p := d.Profile()
	p.Spec.Files = append(p.Spec.Files, FileEntry{Path: "/proc/*/status", Access: AccessRead}, FileEntry{Path: "/usr/lib/**", Access: AccessRead})
	p.Spec.Network = append(p.Spec.Network, NetworkEntry{Prefix: netip.MustParsePrefix("192.168.0.0/16"), Ports: AnyPort, Protocol: UDP})
	if err := p.Validate(); err != nil {
		tb.Fatal(err)
	}
	if n := p.Spec.Entries(); n < 1000 {
		tb.Fatalf("profile has %d entries, want at least 1000", n)
	}
	return p
}

func BenchmarkAllows(b *testing.B) {
	p := bigProfile(b)
	cases := []struct {
		name string
		o    Observation
	}{
		{"exec-hit", execObs("/usr/lib/pkg7/bin/tool167")},
		{"exec-miss", execObs("/usr/local/bin/nc")},
		{"open-hit", openObs("/usr/share/app/mod13/sub1/file463.dat", AccessRead)},
		{"open-wildcard", openObs("/proc/4242/status", AccessRead)},
		{"open-miss-write", openObs("/usr/share/app/mod13/sub1/file463.dat", AccessWrite)},
		{"connect-hit", connObs("10.3.7.73", 1073, TCP)},
		{"connect-cidr", connObs("192.168.4.4", 53, UDP)},
		{"connect-miss", connObs("8.8.8.8", 53, UDP)},
		{"capability", capObs(13)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Allows(c.o)
			}
		})
	}
}

// BenchmarkObserve measures the learning hot path: known behaviour (the
// steady state of a learning container) and new behaviour.
func BenchmarkObserve(b *testing.B) {
	b.Run("known", func(b *testing.B) {
		d := mustDraft(b, "bench", Limits{})
		w := workload()
		observeAll(b, d, "c", "n", t0, w...)
		for i := range w {
			w[i].ContainerID, w[i].Node, w[i].Time = "c", "n", t0
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := d.Observe(w[i%len(w)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("temp-files", func(b *testing.B) {
		d := mustDraft(b, "bench", Limits{})
		paths := make([]string, 4096)
		for i := range paths {
			paths[i] = fmt.Sprintf("/tmp/tmp.%x", i*7919)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			o := openObs(paths[i%len(paths)], AccessWrite)
			o.ContainerID, o.Node, o.Time = "c", "n", t0
			if _, err := d.Observe(o); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// TestDraftConcurrentUse runs Observe, Profile and Stability together; it is
// meaningful under -race.
func TestDraftConcurrentUse(t *testing.T) {
	d := mustDraft(t, "concurrent", Limits{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				if _, err := d.Observe(openObs(fmt.Sprintf("/tmp/g%d-%d", g, i), AccessWrite)); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					d.Profile()
					d.Stability(t0)
				}
			}
		}()
	}
	wg.Wait()
	if n := d.Stability(t0).Observations; n != 1200 {
		t.Errorf("%d observations recorded, want 1200", n)
	}
}
