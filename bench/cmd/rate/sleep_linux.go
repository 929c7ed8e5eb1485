package main

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// Go's timers wake up to about a millisecond late on Linux (the scheduler
// waits in epoll_pwait, whose timeout is in milliseconds), and that would
// be added to every latency measured from the due time. A precise sleeper
// arms its own timerfd and waits for it to become readable in Go's network
// poller: epoll reports a ready descriptor at once, so it wakes within tens
// of microseconds, and no OS thread blocks (a blocking nanosleep per worker
// was tried: the runtime then noticed ready connections late, and one slow
// response stalled every worker).

const preciseSleepAvailable = true

type sleeper struct {
	fd  int
	f   *os.File // the same descriptor, in the poller
	buf [8]byte
}

func newSleeper(precise bool) (*sleeper, error) {
	if !precise {
		return nil, nil
	}
	const clockMonotonic, tfdNonblock, tfdCloexec = 1, 0x800, 0x80000
	fd, _, e := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, tfdNonblock|tfdCloexec, 0)
	if e != 0 {
		return nil, os.NewSyscallError("timerfd_create", e)
	}
	return &sleeper{fd: int(fd), f: os.NewFile(fd, "timerfd")}, nil
}

// until returns at t or just after (nil: Go's timer).
func (s *sleeper) until(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	if s == nil {
		time.Sleep(d)
		return
	}
	spec := struct{ interval, value syscall.Timespec }{value: syscall.NsecToTimespec(int64(d))}
	_, _, e := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, uintptr(s.fd), 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	if e != 0 {
		time.Sleep(time.Until(t))
		return
	}
	if _, err := s.f.Read(s.buf[:]); err != nil {
		time.Sleep(time.Until(t))
	}
}

func (s *sleeper) close() {
	if s != nil {
		s.f.Close()
	}
}
