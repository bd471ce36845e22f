package cliflags

import (
	"testing"

	"github.com/spf13/pflag"
)

func TestFlagBeatsEnvBeatsDefault(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	a := fs.String("http-listen", "default", "")
	b := fs.String("store", "default", "")
	c := fs.Int("queue", 1, "")
	t.Setenv("P_HTTP_LISTEN", "from-env")
	t.Setenv("P_STORE", "from-env")
	if err := fs.Parse([]string{"--store=from-flag"}); err != nil {
		t.Fatal(err)
	}
	if err := BindEnv(fs, "P"); err != nil {
		t.Fatal(err)
	}
	if *a != "from-env" || *b != "from-flag" || *c != 1 {
		t.Fatalf("got %q %q %d", *a, *b, *c)
	}
	t.Setenv("P_QUEUE", "many")
	if err := BindEnv(fs, "P"); err == nil {
		t.Fatal("bad integer in the environment accepted")
	}
}

func TestNewLoggerRejectsUnknownFormat(t *testing.T) {
	if _, err := NewLogger("info", "xml", NewSampledCounter()); err == nil {
		t.Fatal("format xml accepted")
	}
	if _, err := NewLogger("loud", "json", NewSampledCounter()); err == nil {
		t.Fatal("level loud accepted")
	}
}
