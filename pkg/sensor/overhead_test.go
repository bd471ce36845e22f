package sensor

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/test/testutil"
)

// BenchmarkOpenClose measures one open+close of this process with no
// sensor, with the sensor attached but this process left out in the
// kernel, and with it traced and its events drained (decoded, not printed).
func BenchmarkOpenClose(b *testing.B) {
	testutil.RequireRoot(b)
	loop := func(b *testing.B) {
		for b.Loop() {
			fd, err := unix.Open("/etc/hostname", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			unix.Close(fd)
		}
	}
	b.Run("no-sensor", loop)

	for _, tc := range []struct {
		name    string
		exclude bool
	}{{"sensor-excluded", true}, {"sensor-traced", false}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Types = NewTypeSet(TypeOpen)
			cfg.ExcludeSelf = tc.exclude
			s, err := New(cfg, testLoggerTB(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			go func() {
				for range Merged(s) {
				}
			}()
			loop(b)
			st, _ := s.Stats()
			b.ReportMetric(float64(st.Lost(TypeOpen)), "lost")
		})
	}
}
