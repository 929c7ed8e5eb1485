// Package djangoimport loads a Django auth database, as written by
// `manage.py dumpdata auth contenttypes` (plain or with --natural-foreign
// --natural-primary), into the gateway's identity store.
//
// It works in three steps:
//
//   - Parse reads, validates and resolves the dump without touching Redis,
//     reporting every problem with the object's index, model and field.
//   - Plan compares the result with the store's current state
//     (authn.Store.ReadImportState) and lists what would change.
//   - Import applies it through authn.Store.Import: one Lua script that
//     writes everything or nothing.
//
// Objects in the dump are made equal to it; objects not in it are left
// alone; importing the same dump again changes nothing.
package djangoimport

import (
	"context"
	"errors"

	"github.com/djangate/gateway/internal/authn"
)

// maxAttempts bounds how often Import reads and plans again when the
// store changed between its read and its write.
const maxAttempts = 3

// beforeWrite, when set (by tests), runs between the read and the write
// of each attempt.
var beforeWrite func(attempt int)

// Import makes the store match fx and returns what changed. With dryRun
// it only returns what would change and writes nothing. Nothing is
// written either when nothing would change, so a second import of the
// same dump leaves the store byte for byte as it was. Errors wrap the
// authn sentinels; a Redis failure wraps authn.ErrUnavailable.
func Import(ctx context.Context, store *authn.Store, fx *Fixture, dryRun bool) (*Changes, error) {
	set := fx.Set()
	for attempt := 1; ; attempt++ {
		st, err := store.ReadImportState(ctx, set)
		if err != nil {
			return nil, err
		}
		ch := Plan(fx, st)
		if dryRun || ch.Empty() {
			return ch, nil
		}
		if beforeWrite != nil {
			beforeWrite(attempt)
		}
		res, err := store.Import(ctx, set, st)
		if errors.Is(err, authn.ErrImportConflict) && attempt < maxAttempts && ctx.Err() == nil {
			continue // someone wrote meanwhile: read and plan again
		}
		if err != nil {
			return nil, err
		}
		for i := range ch.UsersCreated {
			ch.UsersCreated[i].ID = res.Created[ch.UsersCreated[i].Username]
			ch.UsersCreated[i].User.ID = ch.UsersCreated[i].ID
		}
		return ch, nil
	}
}

// PasswordProblem is a user whose imported password hash can never
// verify with the configured hashers.
type PasswordProblem struct {
	Username string
	// Err says why (malformed, or the algorithm is not enabled); it never
	// contains the hash.
	Err error
}

// PasswordProblems lists the users whose password hash check (e.g.
// authn.Store.PasswordHashProblem) refuses. Unusable passwords are not
// problems.
func (f *Fixture) PasswordProblems(check func(encoded string) error) []PasswordProblem {
	var out []PasswordProblem
	for _, u := range f.Users {
		if err := check(u.User.Password); err != nil {
			out = append(out, PasswordProblem{Username: u.User.Username, Err: err})
		}
	}
	return out
}
