package main

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioUringParams is struct io_uring_params (include/uapi/linux/io_uring.h).
type ioUringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqOffsets
	cqOff                                                                  cqOffsets
}

// sqOffsets is struct io_sqring_offsets.
type sqOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

// cqOffsets is struct io_cqring_offsets.
type cqOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

const (
	ioringOpOpenat     = 18
	ioringEnterGetevts = 1
	ioringOffSQRing    = 0
	ioringOffCQRing    = 0x8000000
	ioringOffSQEs      = 0x10000000
	sqeSize, cqeSize   = 64, 16
)

// ioUringOpenat opens path for reading through an io_uring OPENAT request,
// without the openat system call, and returns the new descriptor.
func ioUringOpenat(path string) (int, error) {
	var p ioUringParams
	r, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return -1, fmt.Errorf("io_uring_setup: %w", errno)
	}
	ring := int(r)
	defer unix.Close(ring)
	sq, err := unix.Mmap(ring, ioringOffSQRing, int(p.sqOff.array+p.sqEntries*4), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return -1, fmt.Errorf("map the submission ring: %w", err)
	}
	defer unix.Munmap(sq)
	cq, err := unix.Mmap(ring, ioringOffCQRing, int(p.cqOff.cqes+p.cqEntries*cqeSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return -1, fmt.Errorf("map the completion ring: %w", err)
	}
	defer unix.Munmap(cq)
	sqes, err := unix.Mmap(ring, ioringOffSQEs, int(p.sqEntries*sqeSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return -1, fmt.Errorf("map the submission entries: %w", err)
	}
	defer unix.Munmap(sqes)

	name, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	u32 := func(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }
	tail := atomic.LoadUint32(u32(sq, p.sqOff.tail))
	idx := tail & *u32(sq, p.sqOff.ringMask)
	sqe := sqes[idx*sqeSize : (idx+1)*sqeSize]
	clear(sqe)
	sqe[0] = ioringOpOpenat
	*(*int32)(unsafe.Pointer(&sqe[4])) = unix.AT_FDCWD
	*(*uint64)(unsafe.Pointer(&sqe[16])) = uint64(uintptr(unsafe.Pointer(name)))
	*(*uint32)(unsafe.Pointer(&sqe[28])) = unix.O_RDONLY | unix.O_CLOEXEC
	*u32(sq, p.sqOff.array+idx*4) = idx
	atomic.StoreUint32(u32(sq, p.sqOff.tail), tail+1)

	_, _, errno = unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(ring), 1, 1, ioringEnterGetevts, 0, 0)
	runtime.KeepAlive(name)
	if errno != 0 {
		return -1, fmt.Errorf("io_uring_enter: %w", errno)
	}
	head := atomic.LoadUint32(u32(cq, p.cqOff.head))
	if head == atomic.LoadUint32(u32(cq, p.cqOff.tail)) {
		return -1, fmt.Errorf("io_uring: no completion")
	}
	cqe := p.cqOff.cqes + (head&*u32(cq, p.cqOff.ringMask))*cqeSize
	res := *(*int32)(unsafe.Pointer(&cq[cqe+8]))
	atomic.StoreUint32(u32(cq, p.cqOff.head), head+1)
	if res < 0 {
		return -1, fmt.Errorf("io_uring openat %s: %w", path, unix.Errno(-res))
	}
	return int(res), nil
}
