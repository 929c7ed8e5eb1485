package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/djangate/gateway/internal/framing"
)

// certReloader serves the configured certificate and picks up a
// replacement on disk: at most every certCheckEvery, on a new connection,
// it compares the files' modification times and reloads. A replacement
// that does not load is logged and the previous certificate kept.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu              sync.Mutex
	cert            *tls.Certificate
	certMod, keyMod time.Time
	checked         time.Time
	lastErr         string
}

const certCheckEvery = 2 * time.Second

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := c.load(); err != nil {
		return nil, fmt.Errorf("server.tls: %w", err)
	}
	c.checked = time.Now()
	return c, nil
}

func (c *certReloader) load() error {
	cm, err1 := modTime(c.certFile)
	km, err2 := modTime(c.keyFile)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("cert_file/key_file: %w", firstErr(err1, err2))
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("cert_file %s / key_file %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert, c.certMod, c.keyMod = &cert, cm, km
	return nil
}

func modTime(path string) (time.Time, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// getCertificate is tls.Config.GetCertificate.
func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) >= certCheckEvery {
		c.checked = time.Now()
		cm, err1 := modTime(c.certFile)
		km, err2 := modTime(c.keyFile)
		if err1 == nil && err2 == nil && (!cm.Equal(c.certMod) || !km.Equal(c.keyMod)) {
			if err := c.load(); err != nil {
				if msg := err.Error(); msg != c.lastErr {
					c.lastErr = msg
					c.log.Error("server.tls: the replaced certificate does not load; keeping the previous one", "error", err)
				}
			} else {
				c.lastErr = ""
				c.log.Info("server.tls: certificate reloaded", "cert_file", c.certFile)
			}
		}
	}
	return c.cert, nil
}

// tlsListener terminates TLS below the framing checks: each connection's
// handshake runs on its own goroutine (a slow client cannot stall
// accepting others), then an HTTP/2 connection (ALPN "h2") is served by
// the HTTP/2 server directly, and an HTTP/1.1 one is checked
// (package framing) and handed to the HTTP server.
type tlsListener struct {
	net.Listener
	cfg     *tls.Config
	maxHead int
	h2      func(*tls.Conn)

	conns     chan net.Conn
	errc      chan error
	closed    chan struct{}
	closeOnce sync.Once
}

// handshakeTimeout bounds a TLS handshake.
const handshakeTimeout = 10 * time.Second

func newTLSListener(ln net.Listener, cfg *tls.Config, maxHead int, h2 func(*tls.Conn)) *tlsListener {
	l := &tlsListener{Listener: ln, cfg: cfg, maxHead: maxHead, h2: h2,
		conns: make(chan net.Conn), errc: make(chan error, 1), closed: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *tlsListener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil && !errors.Is(err, net.ErrClosed) {
			// Out of file descriptors and the like: wait and go on, as
			// net/http does, rather than stop serving for good.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
				continue
			case <-l.closed:
				return
			}
		}
		if err != nil {
			select {
			case l.errc <- err:
			case <-l.closed:
			}
			return
		}
		backoff = 0
		go l.handshake(c)
	}
}

func (l *tlsListener) handshake(c net.Conn) {
	tc := tls.Server(c, l.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		c.Close()
		return
	}
	if tc.ConnectionState().NegotiatedProtocol == http2.NextProtoTLS {
		l.h2(tc)
		return
	}
	select {
	case l.conns <- framing.Wrap(tc, l.maxHead):
	case <-l.closed:
		tc.Close()
	}
}

func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errc:
		return nil, err
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *tlsListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// tlsStateKey carries an HTTP/1.1 connection's TLS state, which the HTTP
// server cannot see below the framing check.
type tlsStateKey struct{}

// connContext is http.Server.ConnContext: it records the TLS state of a
// connection served through a tlsListener.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*framing.Conn); ok {
		if tc, ok := fc.NetConn().(*tls.Conn); ok {
			st := tc.ConnectionState()
			return context.WithValue(ctx, tlsStateKey{}, &st)
		}
	}
	return ctx
}

// setTLS fills r.TLS for a request that came over a tlsListener.
func setTLS(r *http.Request) {
	if r.TLS == nil {
		if st, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok {
			r.TLS = st
		}
	}
}
