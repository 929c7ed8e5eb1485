package cli

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/server"
	"github.com/djangate/gateway/internal/tokens"
)

// tokenParts are what the server needs for tokens, bearer issuers and
// the upstream assertion; each nil or empty when not configured.
type tokenParts struct {
	keys      *tokens.KeySet
	issuer    *tokens.Issuer
	store     *tokens.Store
	externals []*tokens.External
}

// newTokenParts loads the signing keys and third-party issuers the
// configuration names. Every problem names its key path.
func newTokenParts(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient) (*tokenParts, error) {
	tp := &tokenParts{}
	if len(cfg.Tokens.Keys) > 0 {
		var keys []*tokens.Key
		for i, k := range cfg.Tokens.Keys {
			key, err := tokens.LoadKey(k.ID, k.File)
			if err != nil {
				return nil, fmt.Errorf("tokens.keys[%d]: %w", i, err)
			}
			keys = append(keys, key)
		}
		ks, err := tokens.NewKeySet(keys...)
		if err != nil {
			return nil, fmt.Errorf("tokens.keys: %w", err)
		}
		tp.keys = ks
		tp.issuer, err = tokens.NewIssuer(tokens.IssuerOptions{
			Keys: ks, Issuer: cfg.Tokens.Issuer, Audience: cfg.Tokens.Audience,
			AccessTTL: cfg.Tokens.AccessTTL, Leeway: cfg.Tokens.Leeway,
		})
		if err != nil {
			return nil, fmt.Errorf("tokens: %w", err)
		}
	}
	if cfg.Tokens.Enabled {
		tp.store = tokens.NewStore(rdb, cfg.Redis.KeyPrefix)
	}
	if cfg.Authentication.Uses(config.BackendBearer) {
		for i, ic := range cfg.Authentication.Bearer.Issuers {
			e, err := tokens.NewExternal(ctx, tokens.ExternalOptions{
				Issuer: ic.Issuer, JWKSFile: ic.JWKSFile, JWKSURL: ic.JWKSURL,
				Audience: ic.Audience, Algorithms: ic.Algorithms, Leeway: ic.Leeway,
				UsernameClaim: ic.Claims.Username, EmailClaim: ic.Claims.Email, GroupsClaim: ic.Claims.Groups,
			})
			if err != nil {
				return nil, fmt.Errorf("authentication.bearer.issuers[%d]: %w", i, err)
			}
			tp.externals = append(tp.externals, e)
		}
	}
	return tp, nil
}

// apply puts the parts into the server's options.
func (tp *tokenParts) apply(o *server.Options) {
	o.Keys, o.Issuer, o.Externals = tp.keys, tp.issuer, tp.externals
	if tp.store != nil {
		o.TokenStore = tp.store
	}
}
