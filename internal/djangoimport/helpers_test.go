package djangoimport

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/testredis"
)

const testPrefix = "gw:"

// newIterations is the PBKDF2 cost of hashes made by the tests' hashers.
const newIterations = 1000

// The two dumps real Django 3.2 wrote (testdata/gen_fixture.py).
var fixtureFiles = []string{"auth.json", "auth_natural.json"}

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func mustParse(tb testing.TB, data []byte) *Fixture {
	tb.Helper()
	fx, err := Parse(data)
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return fx
}

// expected is testdata/expected.json: what Django itself computed.
type expected struct {
	DjangoVersion string              `json:"django_version"`
	Permissions   []string            `json:"permissions"`
	Groups        map[string][]string `json:"groups"`
	Users         map[string]struct {
		Password          *string  `json:"password"`
		IsActive          bool     `json:"is_active"`
		IsStaff           bool     `json:"is_staff"`
		IsSuperuser       bool     `json:"is_superuser"`
		Email             string   `json:"email"`
		FirstName         string   `json:"first_name"`
		LastName          string   `json:"last_name"`
		Groups            []string `json:"groups"`
		DirectPermissions []string `json:"direct_permissions"`
		AllPermissions    []string `json:"all_permissions"`
		CheckPassword     bool     `json:"check_password"`
	} `json:"users"`
}

func readExpected(tb testing.TB) *expected {
	tb.Helper()
	var exp expected
	if err := json.Unmarshal(readTestdata(tb, "expected.json"), &exp); err != nil {
		tb.Fatal(err)
	}
	if len(exp.Users) != 8 || len(exp.Permissions) == 0 {
		tb.Fatalf("expected.json has %d users and %d permissions", len(exp.Users), len(exp.Permissions))
	}
	return &exp
}

// env is a real redis-server and a store over it.
type env struct {
	srv   *testredis.Server
	rdb   *redis.Client
	store *authn.Store
}

// cheapHashers verify every algorithm the fixtures use but hash new
// passwords cheaply.
func cheapHashers(tb testing.TB) *authn.Hashers {
	tb.Helper()
	hs, err := authn.NewHashers([]config.PasswordHasher{{Algorithm: config.AlgorithmPBKDF2SHA256, Iterations: 1000}}, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return hs
}

// defaultHashers are the gateway's default password_hashers, as `gateway
// serve` builds them from a configuration that names none (pbkdf2_sha256,
// pbkdf2_sha1, argon2, bcrypt_sha256, scrypt), except that new hashes
// take newIterations PBKDF2 iterations instead of 1,500,000: only the
// cost of re-hashing on login changes, which under -race would take
// seconds per login. Stored hashes are verified with their own
// parameters either way.
func defaultHashers(tb testing.TB) *authn.Hashers {
	tb.Helper()
	cfg := config.Default()
	if cfg.PasswordHashers[0].Algorithm != config.AlgorithmPBKDF2SHA256 {
		tb.Fatalf("the default preferred hasher is %s", cfg.PasswordHashers[0].Algorithm)
	}
	cfg.PasswordHashers[0].Iterations = newIterations
	hs, err := authn.NewHashers(cfg.PasswordHashers, cfg.PasswordHashConcurrency)
	if err != nil {
		tb.Fatal(err)
	}
	return hs
}

func newEnv(t *testing.T, hs *authn.Hashers) *env {
	t.Helper()
	srv := testredis.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	if hs == nil {
		hs = cheapHashers(t)
	}
	return &env{srv: srv, rdb: rdb, store: authn.NewStore(rdb, testPrefix, hs)}
}

// snapshot is testredis.Snapshot of the test's database.
func (e *env) snapshot(t *testing.T) map[string]string {
	t.Helper()
	return testredis.Snapshot(t, e.rdb)
}

func assertSnapshot(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	testredis.AssertSnapshot(t, what, got, want)
}

// load is what `gateway import-django` does with a file.
func load(ctx context.Context, store *authn.Store, data []byte, dryRun bool) (*Changes, error) {
	fx, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return Import(ctx, store, fx, dryRun)
}

func mustImport(t *testing.T, e *env, fx *Fixture) *Changes {
	t.Helper()
	ch, err := Import(context.Background(), e.store, fx, false)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return ch
}

func equalStrings(a, b []string) bool {
	return len(a) == 0 && len(b) == 0 || slices.Equal(a, b)
}
