package authn

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"testing"

	"golang.org/x/crypto/argon2"
)

// TestArgon2CoreMatchesXCrypto: the portable Argon2 (used for argon2d and
// versions other than 1.3) computes what x/crypto does for argon2i and
// argon2id at version 1.3, over shapes that exercise lanes, passes,
// address blocks and memory rounding. Django's own argon2d and 1.0 hashes
// are in the vectors.
func TestArgon2CoreMatchesXCrypto(t *testing.T) {
	for _, c := range []struct{ t, m, p, keyLen uint32 }{
		{1, 8, 1, 16}, {2, 16, 2, 16}, {3, 70, 3, 32}, {1, 1024, 1, 64}, {2, 512, 4, 65},
		{1, 300, 7, 100}, {4, 40, 5, 4}, {1, 2048, 2, 128},
	} {
		for _, variant := range []uint32{argon2I, argon2ID} {
			name := fmt.Sprintf("%s/t=%d,m=%d,p=%d,len=%d", argon2Names[variant], c.t, c.m, c.p, c.keyLen)
			t.Run(name, func(t *testing.T) {
				pw, salt := []byte("password"), []byte("somesaltsomesalt")
				var want []byte
				if variant == argon2I {
					want = argon2.Key(pw, salt, c.t, c.m, uint8(c.p), c.keyLen)
				} else {
					want = argon2.IDKey(pw, salt, c.t, c.m, uint8(c.p), c.keyLen)
				}
				if got := argon2Key(variant, argon2Version13, pw, salt, c.t, c.m, c.p, c.keyLen); !bytes.Equal(got, want) {
					t.Fatalf("got %x, want %x", got, want)
				}
			})
		}
	}
}

// TestArgon2CoreRFC9106 checks the RFC 9106 test vectors (section 5),
// which use a secret and associated data; the core takes neither, so this
// recomputes them through the internals with those inputs added.
func TestArgon2CoreRFC9106(t *testing.T) {
	// The RFC's vectors: t=3, m=32, p=4, tag 32 bytes, password 32×0x01,
	// salt 16×0x02, secret 8×0x03, associated data 12×0x04.
	for variant, tag := range map[uint32]string{
		argon2D:  "512b391b6f1162975371d30919734294f868e3be3984f3c1a13a4db9fabe4acb",
		argon2I:  "c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8",
		argon2ID: "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659",
	} {
		want, _ := hex.DecodeString(tag)
		got := argon2KeyWithSecret(variant, argon2Version13, bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 16),
			bytes.Repeat([]byte{3}, 8), bytes.Repeat([]byte{4}, 12), 3, 32, 4, 32)
		if !bytes.Equal(got, want) {
			t.Errorf("%s = %x, want %x", argon2Names[variant], got, want)
		}
	}
}
