package server_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/config"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// serial, and its key, into dir.
func writeCert(t *testing.T, dir string, serial int64) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "gateway test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(k)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	// Written aside and renamed in, as a certificate manager does.
	for _, f := range []struct {
		path string
		blk  *pem.Block
	}{{certFile, &pem.Block{Type: "CERTIFICATE", Bytes: der}}, {keyFile, &pem.Block{Type: "PRIVATE KEY", Bytes: kder}}} {
		if err := os.WriteFile(f.path+".new", pem.EncodeToMemory(f.blk), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f.path+".new", f.path); err != nil {
			t.Fatal(err)
		}
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLSAndHTTP2: with server.tls the gateway serves HTTPS, HTTP/2 to
// clients that offer it and HTTP/1.1 (framing checked) to others, tells
// the policy and the app the request was HTTPS, and picks up a replaced
// certificate without a restart.
func TestTLSAndHTTP2(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := writeCert(t, dir, 1)
	g := newGateway(t, func(c *config.Config, _ *fs.FS) {
		c.Server.TLS = config.ServeTLS{CertFile: certFile, KeyFile: keyFile}
		secure := true
		c.Session.Secure = &secure
	})
	addr := g.Listener.Addr().String()
	base := "https://" + addr
	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	h1 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}

	for name, c := range map[string]*http.Client{"HTTP/2": h2, "HTTP/1.1": h1} {
		t.Run(name, func(t *testing.T) {
			resp, err := c.Get(base + "/public/x")
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			want := 2
			if name == "HTTP/1.1" {
				want = 1
			}
			if resp.StatusCode != 200 || resp.ProtoMajor != want {
				t.Fatalf("%d over %s, want 200 over HTTP/%d: %s", resp.StatusCode, resp.Proto, want, body)
			}
			if p := g.up.last(t).Header.Get("X-Forwarded-Proto"); p != "https" {
				t.Fatalf("upstream X-Forwarded-Proto %q", p)
			}
		})
	}

	// A Secure session cookie works over HTTPS, with HTTP/2.
	body := strings.NewReader(`{"username":"alice","password":"` + testPassword + `"}`)
	req, _ := http.NewRequest("POST", base+"/_gateway/login", body)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	var sid *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == g.cfg.Session.CookieName {
			sid = ck
		}
	}
	if resp.StatusCode != 200 || sid == nil || !sid.Secure {
		t.Fatalf("login over HTTPS: %d, cookie %+v", resp.StatusCode, sid)
	}
	req, _ = http.NewRequest("GET", base+"/editors/x", nil)
	req.AddCookie(sid)
	if resp, err := h2.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("authenticated over HTTP/2: %v %v", resp, err)
	}

	// HTTP/1.1 over TLS is framing-checked like plain HTTP.
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("POST /public/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")) //nolint:errcheck
	r, err := http.ReadResponse(bufio.NewReader(conn), nil)
	conn.Close()
	if err != nil || r.StatusCode != 400 {
		t.Fatalf("CL+TE over TLS: %v %v", r, err)
	}

	// A replaced certificate is served to new connections.
	time.Sleep(10 * time.Millisecond) // a later modification time
	_, _, _ = writeCert(t, dir, 2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only reads the served certificate
		if err != nil {
			t.Fatal(err)
		}
		serial := c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
		c.Close()
		if serial == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving certificate %d after the replacement", serial)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(g.logs.String(), "certificate reloaded") {
		t.Error("the reload was not logged")
	}
	// Plain HTTP to a TLS listener gets nowhere.
	if resp, err := http.Get("http://" + addr + "/public/"); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP served on the TLS listener")
	}
}
