package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/djangate/gateway/internal/config"
)

func TestNewTokenParts(t *testing.T) {
	const ed, ec = "../tokens/testdata/ed25519.pem", "../tokens/testdata/ec256.pem"
	tests := []struct {
		name    string
		mutate  func(c *config.Config)
		wantErr string
		check   func(t *testing.T, tp *tokenParts)
	}{
		{"nothing configured", func(c *config.Config) {}, "", func(t *testing.T, tp *tokenParts) {
			if tp.keys != nil || tp.issuer != nil || tp.store != nil || tp.externals != nil {
				t.Fatalf("%+v", tp)
			}
		}},
		{"assertion keys only", func(c *config.Config) {
			c.UpstreamAssertion.Enabled = true
			c.Tokens.Keys = []config.SigningKey{{ID: "new", File: ec}, {ID: "old", File: ed}}
		}, "", func(t *testing.T, tp *tokenParts) {
			if tp.issuer == nil || tp.store != nil || tp.keys.Signer().ID() != "new" || tp.keys.Signer().Alg() != "ES256" {
				t.Fatalf("%+v", tp)
			}
			if _, ok := tp.keys.Lookup("old"); !ok {
				t.Fatal("the old key does not verify")
			}
		}},
		{"tokens enabled", func(c *config.Config) {
			c.Tokens.Enabled = true
			c.Tokens.Keys = []config.SigningKey{{ID: "k", File: ed}}
		}, "", func(t *testing.T, tp *tokenParts) {
			if tp.store == nil || tp.issuer == nil {
				t.Fatalf("%+v", tp)
			}
		}},
		{"missing key file", func(c *config.Config) {
			c.Tokens.Keys = []config.SigningKey{{ID: "k", File: ed}, {ID: "k2", File: "/nonexistent/key.pem"}}
		}, "tokens.keys[1]: ", nil},
		{"not a key", func(c *config.Config) {
			c.Tokens.Keys = []config.SigningKey{{ID: "k", File: "../tokens/testdata/garbage.pem"}}
		}, "tokens.keys[0]: ", nil},
		{"bad JWKS file", func(c *config.Config) {
			c.Authentication.Backends = []string{"bearer"}
			c.Authentication.Bearer.Issuers = []config.BearerIssuer{{Issuer: "https://idp/", JWKSFile: "../tokens/testdata/external/oct.jwks.json",
				Audience: []string{"gw"}, Algorithms: []string{"RS256"}, Claims: config.ClaimMapping{Username: "sub"}}}
		}, "authentication.bearer.issuers[0]: ", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.mutate(c)
			c.ApplyDefaults()
			tp, err := newTokenParts(context.Background(), c, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want prefix %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, tp)
		})
	}
}
