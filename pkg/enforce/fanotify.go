package enforce

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/pkg/policy"
	"github.com/vigil-dev/vigil/pkg/procfs"
	"github.com/vigil-dev/vigil/pkg/profile"
	"github.com/vigil-dev/vigil/pkg/sensor"
)

// OpenJudge decides an open in an enforced container's mounts (see
// OpenVerdict); the answer is not enforced when the process or its
// container is not under enforcement (allow).
type OpenJudge func(OpenQuery) OpenAnswer

// fanotify's deadline: an open not judged by then is allowed (fail-open,
// counted), so a stalled listener never hangs the node's containers.
const fanotifyDeadline = time.Second

// pseudoFS are filesystems whose opens fanotify does not judge here.
var pseudoFS = map[string]bool{"proc": true, "sysfs": true, "cgroup": true, "cgroup2": true, "devpts": true,
	"mqueue": true, "debugfs": true, "tracefs": true, "bpf": true, "securityfs": true, "pstore": true}

// Fanotify is tier 2 for file opens: a fanotify permission listener on
// every mount of each enforced container, answering each open from the
// container's profile. Allowed files on a container's own overlay get an
// ignore mark, so their next opens never wake userspace.
type Fanotify struct {
	file        *os.File
	conn        syscall.RawConn           // file's descriptor, for marks (see mark)
	read        func([]byte) (int, error) // file.Read; tests make it fail
	stopped     atomic.Bool               // Run returned with an error: the group is closed
	judge       OpenJudge
	procRoot    string
	syscalls    *procfs.Syscalls // the waiting threads' open calls, for their access
	runtimeRoot string           // where the containers' overlay directories are found
	log         *zap.Logger
	m           *fanotifyMetrics
	// The host's side, which a container's mounts are told from: the
	// runtime's mount namespace, processes in the host's (see hostSide),
	// their namespaces and their root directories (device, inode).
	runtimeNS uint32
	hostPIDs  []uint32
	hostNS    map[uint32]bool
	hostRoots map[[2]uint64]bool

	// cached is the judge's answer from what it judged before, or false
	// (see Controller.cachedOpen); nil: every open is judged by decide.
	cached func(OpenQuery) (OpenAnswer, bool)

	// unreported is told of each open the listener refused that no system
	// call reports (see OpenRefusal); nil: counted only.
	unreported func(OpenRefusal)

	mu    sync.Mutex
	marks map[uint32][]markedMount // scope → its marked mounts
	execs map[execOpen]bool        // exec opens allowed, whose open event follows
}

// execOpen is a file a thread opened to exec it: the kernel asks
// OPEN_EXEC_PERM, then OPEN_PERM for the same open.
type execOpen struct {
	tid      int32
	dev, ino uint64
}

// OpenRefusal is an open the listener refused whose thread was not in an
// open system call: an io_uring request's, opened by an io_uring worker
// thread of the ring's process or inline in its io_uring_enter. The
// sys_exit sensor, which reports the refusals of open system calls (EPERM),
// never sees it: the listener reports it.
type OpenRefusal struct {
	PID, TID int32 // the process (the ring's owner) and the opening thread
	Path     string
	Cgroup   uint64 // the process's cgroup2 id (OpenAnswer.Cgroup)
	Comm     string // the opening thread's name
}

type fanotifyMetrics struct {
	decisions     *prometheus.CounterVec
	marks         *prometheus.CounterVec
	accessUnknown prometheus.Counter
	unreported    prometheus.Counter
}

// NewFanotify starts a fanotify group for open permission events; procRoot
// is the host's procfs, where the containers' mounts and the events' files
// are found, runtimeNS the container runtime's mount namespace.
func NewFanotify(judge OpenJudge, procRoot string, runtimeNS uint32, log *zap.Logger, reg prometheus.Registerer) (*Fanotify, error) {
	hostPIDs, hostNS, hostRoots, err := hostSide(procRoot)
	if err != nil {
		return nil, err
	}
	// FAN_REPORT_TID: the opening thread, whose system call tells the
	// open's access; the process is found from it.
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK|unix.FAN_UNLIMITED_QUEUE|unix.FAN_REPORT_TID,
		unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fanotify init: %w", err)
	}
	m := &fanotifyMetrics{decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_fanotify_decisions_total",
		Help: "Opens judged by the fanotify tier: allowed, denied, exec (an exec's opens, judged by the exec tier), or allowed past the deadline (timeout).",
	}, []string{"decision"}), accessUnknown: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vigil_fanotify_access_unknown_total",
		Help: "Opens the fanotify tier had to judge by their access but could not tell it (the opening thread not in an open system call: an io_uring worker's open), allowed when the profile allows the file for either access.",
	}), unreported: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vigil_fanotify_unreported_denials_total",
		Help: "Opens the fanotify tier refused that no open system call reports (an io_uring request's): the listener reports each itself.",
	}), marks: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_fanotify_container_marks_total",
		Help: "Enforced containers whose mounts the fanotify tier marked: before_workload (before its first exec), held (its first execs stopped until then), late (known too late: its workload ran unjudged first), running (enforced after it started, or found running at the agent's start); refused (a host or another container's mount was to be marked: nothing was).",
	}, []string{"outcome"})}
	for _, c := range []prometheus.Collector{m.decisions, m.marks, m.accessUnknown, m.unreported} {
		if err := reg.Register(c); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("register fanotify metrics: %w", err)
		}
	}
	f := &Fanotify{file: os.NewFile(uintptr(fd), "fanotify"), judge: judge, procRoot: procRoot, syscalls: procfs.NewSyscalls(procRoot), runtimeRoot: runtimeRoot(procRoot, runtimeNS), log: log, m: m,
		runtimeNS: runtimeNS, hostPIDs: hostPIDs, hostNS: hostNS, hostRoots: hostRoots,
		marks: map[uint32][]markedMount{}, execs: map[execOpen]bool{}}
	f.read = f.file.Read
	if f.conn, err = f.file.SyscallConn(); err != nil {
		f.file.Close()
		return nil, fmt.Errorf("fanotify descriptor: %w", err)
	}
	return f, nil
}

// mark calls fanotify_mark on the group. Through the descriptor's raw
// connection, never file.Fd(): Fd reads the descriptor unsynchronised with
// Run closing the file, which may hand a closed or reused number to the
// kernel, and it switches the descriptor to blocking mode, which leaves Run's
// read stuck in the kernel when ctx ends. Control holds the descriptor open
// for the call; once the file is closed it fails with os.ErrClosed.
func (f *Fanotify) mark(flags uint, mask uint64, dirFd int, path string) error {
	var err error
	if cerr := f.conn.Control(func(fd uintptr) {
		err = unix.FanotifyMark(int(fd), flags, mask, dirFd, path)
	}); cerr != nil {
		return fmt.Errorf("fanotify group: %w", os.ErrClosed)
	}
	return err
}

// Forget drops every cached allow, after a profile change.
func (f *Fanotify) Forget() {
	// A closed group holds no marks to flush.
	_ = f.mark(unix.FAN_MARK_FLUSH, 0, unix.AT_FDCWD, "")
}

// Run answers permission events until ctx ends; then the group is closed,
// which lets any open still waiting through. It returns once every event
// read has been answered. When it returns an error, it closes the group
// too: its marks would otherwise hold every later open in the enforced
// containers unanswered, until ctx ends.
func (f *Fanotify) Run(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		f.file.Close()
	}()
	err := f.listen(ctx)
	f.syscalls.Close()
	if err != nil {
		f.stopped.Store(true)
		f.file.Close()
	}
	return err
}

// Stopped reports whether Run failed and closed the group: no open is
// judged any more.
func (f *Fanotify) Stopped() bool { return f.stopped.Load() }

// listen answers permission events until ctx ends or reading them fails.
func (f *Fanotify) listen(ctx context.Context) error {
	var deciding sync.WaitGroup
	defer deciding.Wait()
	buf := make([]byte, 4096*int(unsafe.Sizeof(unix.FanotifyEventMetadata{})))
	for {
		n, err := f.read(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read fanotify events: %w", err)
		}
		for off := 0; off+int(unsafe.Sizeof(unix.FanotifyEventMetadata{})) <= n; {
			meta := (*unix.FanotifyEventMetadata)(unsafe.Pointer(&buf[off]))
			if meta.Event_len == 0 || meta.Vers != unix.FANOTIFY_METADATA_VERSION {
				return fmt.Errorf("fanotify event of version %d (want %d)", meta.Vers, unix.FANOTIFY_METADATA_VERSION)
			}
			switch {
			case meta.Fd < 0:
			case meta.Mask&unix.FAN_OPEN_EXEC_PERM != 0:
				f.allowExec(meta.Fd, meta.Pid)
			default:
				// meta points into buf, which the next read overwrites.
				fd, tid := meta.Fd, meta.Pid
				if !f.answerCached(fd, tid) {
					deciding.Go(func() { f.decide(fd, tid) })
				}
			}
			off += int(meta.Event_len)
		}
	}
}

// allowExec lets an exec's open through: execs are judged by their own
// tier, on the program that ends up running. The plain open event the same
// open raises next is let through too.
func (f *Fanotify) allowExec(fd int32, tid int32) {
	var st unix.Stat_t
	if unix.Fstat(int(fd), &st) == nil {
		f.mu.Lock()
		f.execs[execOpen{tid, st.Dev, st.Ino}] = true
		f.mu.Unlock()
	}
	f.respond(fd, true, "exec")
	unix.Close(int(fd))
}

// execFollowUp reports whether file id is the open of an exec just let
// through; taken, it is forgotten.
func (f *Fanotify) execFollowUp(id FileID, tid int32, take bool) bool {
	if id == (FileID{}) {
		return false
	}
	k := execOpen{tid, id.Dev, id.Ino}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.execs[k] {
		return false
	}
	if take {
		delete(f.execs, k)
	}
	return true
}

// answerCached answers an open in the read loop, with no goroutine and no
// deadline, when the judge allows it from what it judged before
// (f.cached); it reports false for anything else — a verdict not cached, a
// refusal (whose report decide makes), an exec's open, an access told only
// by the thread's memory (openat2's) or not at all — left to decide.
func (f *Fanotify) answerCached(fd int32, tid int32) bool {
	if f.cached == nil {
		return false
	}
	var st unix.Stat_t
	if unix.Fstat(int(fd), &st) != nil {
		return false
	}
	file := FileIDOf(&st)
	if f.execFollowUp(file, tid, false) {
		return false
	}
	path, err := procfs.FD(f.procRoot, int(fd))
	if err != nil {
		return false
	}
	q := f.query(fd, tid, path, file)
	untold := false
	q.Access = func() profile.Access {
		flags, err := f.syscalls.OpenFlagsNoMemory(uint32(tid))
		if err != nil {
			untold = true
			return profile.AccessReadWrite
		}
		return policy.OpenAccess(sensor.OpenFlags(flags))
	}
	a, ok := f.cached(q)
	if !ok || untold || (a.Enforced && !a.Allowed) {
		return false
	}
	if a.Enforced && a.Cacheable {
		f.cacheAllow(fd)
	}
	f.respond(fd, true, "allowed")
	unix.Close(int(fd))
	return true
}

// query is what the judge is asked about an open of file (at path) by
// thread tid. The judge asks about the process; a thread already gone (an
// exec's open is answered before it is judged for the cache) leaves its
// id, which is its process's when it is the main thread.
func (f *Fanotify) query(fd int32, tid int32, path string, file FileID) OpenQuery {
	pid := f.tgid(tid)
	return OpenQuery{PID: pid, Path: path, File: file, Access: func() profile.Access { return f.openAccess(tid) },
		Image: func() bool { return imageFile(f.procRoot, f.runtimeRoot, pid, fd, path) }}
}

func (f *Fanotify) respond(fd int32, allow bool, label string) {
	resp := uint32(unix.FAN_DENY)
	if allow {
		resp = unix.FAN_ALLOW
	}
	r := unix.FanotifyResponse{Fd: fd, Response: resp}
	if _, err := f.file.Write((*[unsafe.Sizeof(r)]byte)(unsafe.Pointer(&r))[:]); err != nil && !errors.Is(err, os.ErrClosed) {
		f.log.Error("answer a fanotify event", zap.Error(err))
	}
	f.m.decisions.WithLabelValues(label).Inc()
}

// decide answers one event of thread tid exactly once: from the judge, or
// fail-open at the deadline.
func (f *Fanotify) decide(fd int32, tid int32) {
	var once sync.Once
	answer := func(allow bool, label string) {
		once.Do(func() { f.respond(fd, allow, label) })
	}
	timer := time.AfterFunc(fanotifyDeadline, func() { answer(true, "timeout") })
	defer func() {
		timer.Stop()
		unix.Close(int(fd))
	}()
	var file FileID
	var st unix.Stat_t
	if unix.Fstat(int(fd), &st) == nil {
		file = FileIDOf(&st)
	}
	exec := f.execFollowUp(file, tid, true)
	if exec {
		// The exec tier judges the program: the judge below only decides
		// whether its file is cached.
		answer(true, "exec")
	}
	path, err := procfs.FD(f.procRoot, int(fd))
	if err != nil {
		answer(true, "timeout")
		return
	}
	q := f.query(fd, tid, path, file)
	pid := q.PID
	a := f.judge(q)
	f.log.Debug("fanotify open", zap.Int32("pid", pid), zap.Int32("tid", tid), zap.String("path", path), zap.Bool("exec", exec),
		zap.Bool("enforced", a.Enforced), zap.Bool("allowed", a.Allowed))
	if a.Enforced && a.Allowed && a.Cacheable {
		// Before a plain open's answer, so that its next open finds it. An
		// exec's file is cached too when the profile lets the container
		// open it: its next exec then costs no round trip at all. A file
		// the profile lets it open for one access only is never cached:
		// the kernel's cache would let the other through.
		f.cacheAllow(fd)
	}
	if !a.Enforced || a.Allowed {
		answer(true, "allowed")
		return
	}
	// Before the answer, which ends the thread's system call, and may end
	// its process (and its /proc entries) right after.
	var unreported *OpenRefusal
	if _, err := f.syscalls.OpenFlags(uint32(tid)); err != nil && !exec {
		comm, _ := os.ReadFile(filepath.Join(procfs.Dir(f.procRoot, uint32(tid)), "comm"))
		unreported = &OpenRefusal{PID: pid, TID: tid, Path: path, Cgroup: a.Cgroup, Comm: strings.TrimSpace(string(comm))}
	}
	answer(false, "denied")
	if unreported != nil {
		f.m.unreported.Inc()
		if f.unreported != nil {
			f.unreported(*unreported)
		}
	}
}

// pidfdThread is PIDFD_THREAD (Linux 6.9+): pidfd_open of any thread.
const pidfdThread = unix.O_EXCL

// tgid is the process of thread tid; tid itself when it is gone. Without
// reading the thread's status where the kernel can tell: a plain pidfd
// opens only for a process's main thread, and another thread's pidfd tells
// its process (PIDFD_GET_INFO, Linux 6.13+).
func (f *Fanotify) tgid(tid int32) int32 {
	if fd, err := unix.PidfdOpen(int(tid), 0); err == nil {
		unix.Close(fd)
		return tid
	}
	if fd, err := unix.PidfdOpen(int(tid), pidfdThread); err == nil {
		info := unix.PidfdInfo{Mask: unix.PIDFD_INFO_PID}
		err := unix.IoctlPidfdInfo(fd, &info)
		unix.Close(fd)
		if err == nil && info.Tgid != 0 {
			return int32(info.Tgid)
		}
	}
	if tgid, err := procfs.Tgid(f.procRoot, uint32(tid)); err == nil {
		return int32(tgid)
	}
	return tid
}

// openAccess is the access the open thread tid waits in asks for, read from
// its system call; 0 (counted) when it cannot be told.
func (f *Fanotify) openAccess(tid int32) profile.Access {
	flags, err := f.syscalls.OpenFlags(uint32(tid))
	if err != nil {
		f.m.accessUnknown.Inc()
		f.log.Debug("access of an open not told", zap.Int32("tid", tid), zap.Error(err))
		return 0
	}
	return policy.OpenAccess(sensor.OpenFlags(flags))
}

// cacheAllow lets the next opens and execs of an allowed file through in
// the kernel, when the file is on a container's own overlay (an inode no
// other container shares): an ignore mark, evictable so it pins nothing, and
// cleared when the file is modified. Execs are ignored with the opens: the
// listener lets every exec's open through anyway, and an exec event whose
// plain open event is ignored would stay in the exec table for good.
func (f *Fanotify) cacheAllow(fd int32) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(fd), &st); err != nil || st.Type != unix.OVERLAYFS_SUPER_MAGIC {
		return
	}
	// Only a cache: a file not marked (or a group closed) is judged again.
	_ = f.mark(unix.FAN_MARK_ADD|unix.FAN_MARK_IGNORED_MASK|unix.FAN_MARK_EVICTABLE,
		unix.FAN_OPEN_PERM|unix.FAN_OPEN_EXEC_PERM, int(fd), "")
}
