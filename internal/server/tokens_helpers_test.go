package server_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/server"
	"github.com/djangate/gateway/internal/tokens"
)

// addTokenParts builds what `gateway serve` builds for tokens from cfg:
// the signing keys, the issuer, the refresh-token store and the
// third-party verifiers.
func addTokenParts(t testing.TB, cfg *config.Config, rdb redis.UniversalClient, o *server.Options) {
	t.Helper()
	if len(cfg.Tokens.Keys) > 0 {
		var keys []*tokens.Key
		for _, k := range cfg.Tokens.Keys {
			key, err := tokens.LoadKey(k.ID, k.File)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, key)
		}
		ks, err := tokens.NewKeySet(keys...)
		if err != nil {
			t.Fatal(err)
		}
		iss, err := tokens.NewIssuer(tokens.IssuerOptions{Keys: ks, Issuer: cfg.Tokens.Issuer, Audience: cfg.Tokens.Audience, AccessTTL: cfg.Tokens.AccessTTL, Leeway: cfg.Tokens.Leeway})
		if err != nil {
			t.Fatal(err)
		}
		o.Keys, o.Issuer = ks, iss
	}
	if cfg.Tokens.Enabled {
		o.TokenStore = tokens.NewStore(rdb, cfg.Redis.KeyPrefix)
	}
	for _, ic := range cfg.Authentication.Bearer.Issuers {
		e, err := tokens.NewExternal(context.Background(), tokens.ExternalOptions{
			Issuer: ic.Issuer, JWKSFile: ic.JWKSFile, JWKSURL: ic.JWKSURL, Audience: ic.Audience, Algorithms: ic.Algorithms,
			Leeway: ic.Leeway, UsernameClaim: ic.Claims.Username, EmailClaim: ic.Claims.Email, GroupsClaim: ic.Claims.Groups,
		})
		if err != nil {
			t.Fatal(err)
		}
		o.Externals = append(o.Externals, e)
	}
}

// writeKey writes a fresh private key of kind "ed25519" or "p256" as a
// PKCS#8 PEM file and returns its path.
func writeKey(t testing.TB, kind string) string {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch kind {
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "p256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), kind+".pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// withTokens enables the gateway's tokens and the bearer backend after
// the session one, signing with a fresh Ed25519 key.
func withTokens(t testing.TB) func(*config.Config, *fs.FS) {
	return func(c *config.Config, _ *fs.FS) {
		c.Tokens.Enabled = true
		c.Tokens.Keys = []config.SigningKey{{ID: "k1", File: writeKey(t, "ed25519")}}
		c.Authentication.Backends = []string{"session", "bearer"}
	}
}

// mapPolicy is a policy of one file.
func mapPolicy(rego string) fs.FS {
	return fstest.MapFS{"authz.rego": {Data: []byte(rego)}}
}
