package authn

import (
	"testing"
)

// BenchmarkHashers measures one login-path check (a correct password) per
// writable hasher at config's default parameters (Django 6.1's, per
// config): PBKDF2 1,500,000 iterations, argon2 t=2 m=102400 p=8, bcrypt
// 12 rounds, scrypt N=2^14 r=8 p=5. bench/hashers.sh compares the PBKDF2
// one with Python's hashlib.
func BenchmarkHashers(b *testing.B) {
	const password = "correct horse battery staple"
	for _, alg := range writableAlgorithms() {
		b.Run(alg, func(b *testing.B) {
			hs := newAllHashers(b, alg, defaultHasherParams)
			enc, err := hs.Make(password)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if ok, _ := hs.Check(password, enc); !ok {
					b.Fatal("Check failed")
				}
			}
		})
	}
}
