package main

import (
	"strings"
	"testing"
)

// trial is a load row as the search sees it: the rate asked, the rate
// generated and the loss.
func trial(target, generated, loss float64) loadRow {
	return loadRow{TargetRate: target, Generated: generated, LossRate: loss, Short: generated < shortFraction*target}
}

// TestSearchBracket checks that both bounds of the search are rates
// generated, never the rates asked.
func TestSearchBracket(t *testing.T) {
	var s search
	for _, r := range []loadRow{trial(25_000, 24_000, 0), trial(50_000, 47_000, 0), trial(100_000, 91_000, 0.01)} {
		s.add(r)
	}
	if !s.open() {
		t.Fatalf("bracket %.0f–%.0f: want it open to bisecting", s.lo, s.hi)
	}
	s.add(trial((47_000+91_000)/2, 66_000, 0.002)) // asked 69 000
	s.add(trial((47_000+66_000)/2, 55_000, 0))     // asked 56 500
	r := s.result()
	if r.NoLossUpTo != 55_000 || r.LossFrom != 66_000 || r.Generated != 55_000 {
		t.Errorf("bracket %.0f–%.0f, row generated %.0f: want 55000–66000 generated, the row the loss-free one", r.NoLossUpTo, r.LossFrom, r.Generated)
	}
	if !strings.Contains(r.What, "between 55000/s and 66000/s") {
		t.Errorf("row says %q", r.What)
	}
}

// TestSearchShortGenerator checks that a generator that falls short is
// reported as such, not as the agent's limit, and that the multiples it
// cannot reach are skipped without being run.
func TestSearchShortGenerator(t *testing.T) {
	var s search
	for _, r := range []loadRow{trial(25_000, 25_000, 0), trial(50_000, 49_000, 0), trial(100_000, 61_000, 0)} {
		s.add(r)
	}
	if s.open() {
		t.Fatal("no loss seen: the search must not bisect")
	}
	r := s.result()
	if !strings.Contains(r.What, "no loss up to the generator's limit (61000/s)") || r.LossFrom != 0 || r.NoLossUpTo != 61_000 {
		t.Errorf("row %q, bracket %.0f–%.0f", r.What, r.NoLossUpTo, r.LossFrom)
	}
	ran := 0
	measure := func(rate float64) (loadRow, error) { ran++; return trial(rate, rate, 0), nil }
	for _, k := range []float64{2, 5} {
		m, err := s.multiple(k, measure)
		if err != nil {
			t.Fatal(err)
		}
		if m.Skipped == "" || !strings.Contains(m.Skipped, "at most 61000/s") {
			t.Errorf("%.0f×: %+v, want it skipped: the generator reaches 61000/s", k, m)
		}
	}
	if ran != 0 {
		t.Errorf("%d multiples run past the generator's known limit", ran)
	}
}

// TestSearchMultiple checks a multiple the generator reaches, and one it
// turns out not to reach.
func TestSearchMultiple(t *testing.T) {
	s := search{lo: 40_000, hi: 50_000}
	m, err := s.multiple(2, func(rate float64) (loadRow, error) { return trial(rate, 78_000, 0.2), nil })
	if err != nil || m.Skipped != "" || !strings.Contains(m.What, "2× the zero-loss rate: 1.9× generated") {
		t.Errorf("2×: %+v, %v", m, err)
	}
	m, err = s.multiple(5, func(rate float64) (loadRow, error) { return trial(rate, 90_000, 0.3), nil })
	if err != nil || !strings.Contains(m.Skipped, "reached only 90000/s") {
		t.Errorf("5× with the generator short: %+v, %v", m, err)
	}
	var none search
	none.add(trial(25_000, 25_000, 0.1))
	if r := none.result(); !strings.Contains(r.What, "loss already at 25000/s") {
		t.Errorf("loss at the first rate: %q", r.What)
	}
	if m, _ := none.multiple(2, nil); m.Skipped == "" {
		t.Errorf("a multiple of no zero-loss rate: %+v", m)
	}
}
