package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// flakyListener fails its first Accept like a process out of file
// descriptors does.
type flakyListener struct {
	net.Listener
	failed atomic.Bool
}

func (f *flakyListener) Accept() (net.Conn, error) {
	if !f.failed.Swap(true) {
		return nil, errors.New("accept tcp: too many open files")
	}
	return f.Listener.Accept()
}

// TestTLSListenerSurvivesAcceptErrors: a transient Accept error does not
// stop the listener for good.
func TestTLSListenerSurvivesAcceptErrors(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k}}, NextProtos: []string{"http/1.1"}}
	l := newTLSListener(&flakyListener{Listener: raw}, cfg, 1<<16, func(*tls.Conn) {})
	defer l.Close()
	go func() {
		c, err := tls.Dial("tcp", raw.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}) //nolint:gosec // test certificate
		if err == nil {
			c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) //nolint:errcheck
			time.Sleep(time.Second)
			c.Close()
		}
	}()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Accept after a transient error: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the listener stopped accepting after a transient error")
	}
}
