//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestUpstreamDialTimeout makes a real dial hang: a listener with a
// backlog of 0 that never accepts queues one connection and then ignores
// SYNs, so the next connect only ends at the dial timeout.
func TestUpstreamDialTimeout(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Skip(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Skip(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Skip(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the backlog until a probe dial times out.
	hangs := false
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			var ne net.Error
			hangs = errors.As(err, &ne) && ne.Timeout()
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	if !hangs {
		t.Skip("kernel accepted every connection; cannot provoke a dial timeout")
	}

	cfg := upstreamConfig("blackhole", "http://"+addr)
	cfg.Timeouts.Dial = 300 * time.Millisecond
	g := newTestGateway(t, cfg)
	start := time.Now()
	res, _ := rawDo(t, g.addr(), "GET /x HTTP/1.1", "Host: gateway.test")
	elapsed := time.Since(start)
	if res.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", res.StatusCode)
	}
	if err := receive(t, g.errs); !errors.Is(err, ErrUpstreamTimeout) {
		t.Fatalf("err = %v, want ErrUpstreamTimeout", err)
	}
	if elapsed > 3*time.Second {
		t.Errorf("answered after %v, want about 300ms", elapsed)
	}
}
