package vm

import (
	"fmt"
	"strings"
)

// Files in the control directory the guest mounts at /vm/ctl.
const (
	ctlScript     = "run.sh"      // written by the host: mounts, environment, the program
	ctlStdout     = "stdout"      // the program's standard output
	ctlStderr     = "stderr"      // and its standard error
	ctlExit       = "exit"        // its exit status, written by the init
	ctlUptime     = "uptime"      // guest seconds since boot when the program started
	ctlGuestError = "guest-error" // why the script could not start the program
)

// ninePOpts mount a 9p share; a large msize makes reading a test binary of
// tens of megabytes cheap.
const ninePOpts = "trans=virtio,version=9p2000.L,msize=262144"

// shareTag names the 9p device of the i-th share.
func shareTag(i int) string { return fmt.Sprintf("share%d", i) }

// guestScript is the shell script the init runs: it mirrors the shares,
// enters the working directory and runs the program with exactly the given
// environment; its exit status is the program's.
func guestScript(spec Spec, shares []Share) string {
	var b strings.Builder
	b.WriteString("# Written by the vigil VM harness for one run.\n")
	fmt.Fprintf(&b, "fail() { echo \"$*\" >/vm/ctl/%s; exit 1; }\n", ctlGuestError)
	for i, sh := range shares {
		opts := ninePOpts
		if sh.ReadOnly {
			opts += ",ro"
		}
		p := shellQuote(sh.Path)
		fmt.Fprintf(&b, "mkdir -p %s || fail %s\n", p, shellQuote("create mount point "+sh.Path))
		fmt.Fprintf(&b, "mount -t 9p -o %s %s %s || fail %s\n", opts, shareTag(i), p, shellQuote("mount share "+sh.Path))
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	fmt.Fprintf(&b, "cd %s || fail %s\n", shellQuote(dir), shellQuote("enter working directory "+dir))
	b.WriteString("env -i")
	env := append([]string{"PATH=" + guestPath, "HOME=/root", "TMPDIR=/tmp", GuestEnv + "=1"}, spec.Env...)
	for _, kv := range env {
		b.WriteString(" " + shellQuote(kv))
	}
	b.WriteString(" " + shellQuote(spec.Path))
	for _, a := range spec.Args {
		b.WriteString(" " + shellQuote(a))
	}
	fmt.Fprintf(&b, " </dev/null >/vm/ctl/%s 2>/vm/ctl/%s\n", ctlStdout, ctlStderr)
	return b.String()
}

// shellQuote quotes s for sh: single quotes keep every byte but the single
// quote itself, which is closed, escaped and reopened.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
