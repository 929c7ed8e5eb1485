package tokens

import (
	"context"
	"testing"
	"time"
)

func benchIssuer(b *testing.B, file string) *Issuer {
	b.Helper()
	now := time.Now()
	return ownIssuer(b, &now, ownKey(b, "k", file))
}

func BenchmarkVerifyAccess(b *testing.B) {
	for _, kc := range []struct{ name, file string }{
		{"EdDSA", "ed25519.pem"}, {"ES256", "ec256.pem"}, {"RS256", "rsa2048.pem"},
	} {
		b.Run(kc.name, func(b *testing.B) {
			iss := benchIssuer(b, kc.file)
			tok, _, err := iss.Access(42, "alice", "BBBBBBBBBBBBBBBBBBBBBB", "bind")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := iss.VerifyAccess(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAccess(b *testing.B) {
	for _, kc := range []struct{ name, file string }{
		{"EdDSA", "ed25519.pem"}, {"ES256", "ec256.pem"}, {"RS256", "rsa2048.pem"},
	} {
		b.Run(kc.name, func(b *testing.B) {
			iss := benchIssuer(b, kc.file)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := iss.Access(42, "alice", "BBBBBBBBBBBBBBBBBBBBBB", "bind"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAssert(b *testing.B) {
	iss := benchIssuer(b, "ed25519.pem")
	a := Assertion{UserID: 42, Username: "alice", Email: "alice@example.com", Groups: []string{"editors", "staff"},
		IsStaff: true, SessionHash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Backend: "session", Audience: "blog"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Assert(a, 30*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthBinding(b *testing.B) {
	key := []byte("0123456789abcdef0123456789abcdef")
	b.ReportAllocs()
	for b.Loop() {
		_ = AuthBinding(key, 42, "secret")
	}
}

func BenchmarkLoadAccess(b *testing.B) {
	e := newOwnEnv(b)
	ctx := context.Background()
	u := e.user(b, "alice")
	_, fam, err := e.store.IssueRefresh(ctx, u.ID, "b", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.store.LoadAccess(ctx, u.ID, "AAAAAAAAAAAAAAAAAAAAAA", fam, "bearer"); err != nil {
			b.Fatal(err)
		}
	}
}
