package profile

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCanonicalName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"PostgreSQL.1004069810", "PostgreSQL.{n}"},
		{"postgresql-2026-12-06_193647.log", "postgresql-{n}-{n}-{n}_{n}.log"},
		{"notes-1765043807123.tar.gz", "notes-{n}.tar.gz"},
		{"pgsql_tmp1234.0.fileset", "pgsql_tmp{n}.{n}.fileset"},
		{"16384_fsm", "{n}_fsm"},
		// Versions and architectures: no run of four digits.
		{"python3.11", "python3.11"},
		{"libc.so.6", "libc.so.6"},
		{"x86_64-linux-gnu", "x86_64-linux-gnu"},
		{"os.cpython-311.pyc", "os.cpython-311.pyc"},
		{"pgsql_tmp57.0.fileset", "pgsql_tmp57.0.fileset"},
		// Whole volatile names stay "*", as before.
		{"1234", "*"},
		{"7", "*"},
		{"3f2a9c0d1e4b5a6f7788", "*"},
		{"123e4567-e89b-12d3-a456-426614174000", "*"},
		// A pattern's own form is its canonical name.
		{"PostgreSQL.{n}", "PostgreSQL.{n}"},
		{"*", "*"},
	} {
		if got := CanonicalName(tc.in); got != tc.want {
			t.Errorf("CanonicalName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDigitsPatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		valid   bool
	}{
		{"/dev/shm/PostgreSQL.{n}", true},
		{"/var/log/postgresql-{n}-{n}-{n}_{n}.log", true},
		{"/data/{n}_fsm/x", true},
		{"/proc/{n}/status", false},      // a whole number is "*"
		{"/log/a-{n}{n}", false},         // runs are maximal
		{"/log/a-{n}1", false},           // a digit next to a run
		{"/lib/v{n}.1", false},           // fine only where the learner writes it: 1 would be {n}
		{"/lib/a{x}", false},             // no other braces
		{"/lib/a}", false},               // no other braces
		{"/lib/{n}abcdef0123456", false}, // 0000abcdef0123456 is a long hex id: "*"
	} {
		if err := ValidatePattern(tc.pattern); (err == nil) != tc.valid {
			t.Errorf("ValidatePattern(%q) = %v, want valid %v", tc.pattern, err, tc.valid)
		}
	}
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"/dev/shm/PostgreSQL.{n}", "/dev/shm/PostgreSQL.1004069810", true},
		{"/dev/shm/PostgreSQL.{n}", "/dev/shm/PostgreSQL.2381", true},
		{"/dev/shm/PostgreSQL.{n}", "/dev/shm/PostgreSQL.238", false}, // too short to be volatile
		{"/dev/shm/PostgreSQL.{n}", "/dev/shm/PostgreSQL.", false},
		{"/dev/shm/PostgreSQL.{n}", "/dev/shm/PostgreSQL.12345.x", false},
		{"/dev/shm/PostgreSQL.{n}", "/dev/shm/Evil.1004069810", false},
		{"/log/pg-{n}-{n}.log", "/log/pg-2026-7.log", true},
		{"/log/pg-{n}-{n}.log", "/log/pg-2026.log", false},
		{"/d/{n}_fsm/*", "/d/16384_fsm/a", true},
	} {
		if got := MatchPattern(tc.pattern, tc.path); got != tc.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
	if !subsumesComps(components("/shm/a.{n}"), components("/shm/a.20261206")) ||
		subsumesComps(components("/shm/a.20261206"), components("/shm/a.{n}")) ||
		!subsumesComps(components("/shm/*"), components("/shm/a.{n}")) {
		t.Error("a {n} form subsumes the names it stands for, not the other way round, and * subsumes it")
	}
}

func TestVolatileNumbersGeneralise(t *testing.T) {
	d := mustDraft(t, "postgres", Limits{})
	added := observeAll(t, d, "c", "n", t0,
		openObs("/dev/shm/PostgreSQL.1004069810", AccessReadWrite),
		openObs("/dev/shm/PostgreSQL.2209941155", AccessReadWrite),
		openObs("/var/log/pg/postgresql-2026-12-06_193647.log", AccessWrite),
		openObs("/var/log/pg/postgresql-2026-12-07_000000.log", AccessWrite),
		openObs("/usr/lib/python3.11/os.py", AccessRead),
		openObs("/usr/lib/x86_64-linux-gnu/libc.so.6", AccessRead),
	)
	p := d.Profile()
	var got []string
	for _, f := range p.Spec.Files {
		got = append(got, f.Path)
	}
	want := "/dev/shm/PostgreSQL.{n} /usr/lib/python3.11/os.py /usr/lib/x86_64-linux-gnu/libc.so.6 /var/log/pg/postgresql-{n}-{n}-{n}_{n}.log"
	if strings.Join(got, " ") != want || added != 4 {
		t.Errorf("added %d, files %q, want 4: %q", added, strings.Join(got, " "), want)
	}
	for path, allowed := range map[string]bool{
		"/dev/shm/PostgreSQL.31337":                      true,
		"/var/log/pg/postgresql-2027-01-01_120000.log":   true,
		"/dev/shm/Other.1004069810":                      false,
		"/var/log/pg/postgresql-2027-01-01_120000.log.x": false,
		"/usr/lib/python3.12/os.py":                      false,
	} {
		if ok, rule := p.Allows(openObs(path, AccessWrite)); ok != allowed {
			t.Errorf("Allows(%s) = %v (%s), want %v", path, ok, rule, allowed)
		}
	}
	data, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode("learned.yaml", data); err != nil {
		t.Errorf("the learned profile does not decode: %v", err)
	}
}

// TestIndexAgreesWithReferenceOnDigits is TestIndexAgreesWithReference
// with names that differ in their numbers.
func TestIndexAgreesWithReferenceOnDigits(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	names := []string{"a.1234", "a.5678", "a.{n}", "a.12", "b.{n}", "b-2026-1", "b-{n}-{n}", "{n}_x", "*"}
	paths := []string{"a.1234", "a.5678", "a.99999", "a.12", "a.", "b.1234", "b-2026-1", "b-2027-12", "b-1-2026", "0000_x", "7_x"}
	for round := 0; round < 200; round++ {
		ix := newPathIndex()
		var patterns []string
		for len(patterns) < 1+rng.IntN(6) {
			p := "/d/" + names[rng.IntN(len(names))]
			if !strings.Contains(strings.Join(patterns, " ")+" ", p+" ") {
				ix.insert(p, int32(len(patterns)), 0)
				patterns = append(patterns, p)
			}
		}
		for _, name := range paths {
			path := "/d/" + name
			want := false
			for _, p := range patterns {
				want = want || MatchPattern(p, path)
			}
			if _, got := ix.lookup(path, 0); got != want {
				t.Fatalf("patterns %q, path %q: index says %v, reference %v", patterns, path, got, want)
			}
		}
	}
}
