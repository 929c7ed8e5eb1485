package tokens

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func BenchmarkExternalVerify(b *testing.B) {
	k := extKeys()
	path := filepath.Join(b.TempDir(), "jwks.json")
	if err := os.WriteFile(path, extDefaultJWKS(), 0o600); err != nil {
		b.Fatal(err)
	}
	clock := &extClock{t: extT0}
	o := extOptions(clock)
	o.JWKSFile = path
	e, err := NewExternal(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{"ES256", jwt.SigningMethodES256, k.ec, "ec1"},
		{"RS256", jwt.SigningMethodRS256, k.rsa, "rsa1"},
		{"EdDSA", jwt.SigningMethodEdDSA, k.ed, "ed1"},
	} {
		token := extSign(b, bc.method, bc.key, bc.kid, extClaims())
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				if _, err := e.Verify(ctx, token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("TokenIssuer", func(b *testing.B) {
		token := extSign(b, jwt.SigningMethodES256, k.ec, "ec1", extClaims())
		b.ReportAllocs()
		for b.Loop() {
			if TokenIssuer(token) == "" {
				b.Fatal("no issuer")
			}
		}
	})
}
