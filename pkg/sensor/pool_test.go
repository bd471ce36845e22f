package sensor

import "testing"

func TestReleaseDropsWhatTheEventHeld(t *testing.T) {
	ev := newEvent()
	ev.Type, ev.Comm, ev.Exec.Argv = TypeExec, "sh", []string{"sh", "-c", "true"}
	argv := ev.Exec.Argv
	Release(ev)
	if ev.Type != 0 || ev.Comm != "" || ev.Exec.Argv != nil {
		t.Errorf("a released event still holds %+v", *ev)
	}
	if argv[2] != "true" {
		t.Errorf("releasing an event changed the argv a consumer kept: %q", argv)
	}
}

func TestReleaseTwicePanics(t *testing.T) {
	ev := newEvent()
	Release(ev)
	defer func() {
		if recover() == nil {
			t.Error("a second Release of one event did not panic")
		}
	}()
	Release(ev)
}

func TestNewEventIsReleasable(t *testing.T) {
	ev := newEvent()
	Release(ev)
	again := newEvent() // may be ev itself
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("releasing an event taken again after a release panicked: %v", r)
		}
	}()
	Release(again)
}
