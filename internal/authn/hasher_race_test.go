//go:build race

package authn

// raceEnabled: the race detector slows pure-Go hashing (bcrypt's
// blowfish, PBKDF2's loop) about tenfold, so the costliest vectors check
// less under it.
const raceEnabled = true
