//go:build !race

package authn

// raceEnabled: see hasher_race_test.go.
const raceEnabled = false
