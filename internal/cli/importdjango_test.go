package cli

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/djangoimport"
)

// The dumps real Django wrote, in internal/djangoimport/testdata.
const (
	djangoDump        = "../djangoimport/testdata/auth.json"
	djangoNaturalDump = "../djangoimport/testdata/auth_natural.json"
)

func readDump(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// redisContents is every key with its type and exact contents (hash
// fields and set members sorted).
func redisContents(t *testing.T, e *testEnv) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := e.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		typ := e.rdb.Type(ctx, k).Val()
		var items []string
		switch typ {
		case "string":
			items = []string{e.rdb.Get(ctx, k).Val()}
		case "hash":
			for f, v := range e.rdb.HGetAll(ctx, k).Val() {
				items = append(items, strconv.Quote(f)+"="+strconv.Quote(v))
			}
		case "set":
			items = e.rdb.SMembers(ctx, k).Val()
		default:
			t.Fatalf("key %q of unexpected type %q", k, typ)
		}
		slices.Sort(items)
		out[k] = fmt.Sprintf("%s %q", typ, items)
	}
	return out
}

func assertUnchanged(t *testing.T, e *testEnv, before map[string]string) {
	t.Helper()
	after := redisContents(t, e)
	if maps.Equal(after, before) {
		return
	}
	for k, v := range after {
		if before[k] != v {
			t.Errorf("key %q changed or appeared: %s", k, v)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			t.Errorf("key %q disappeared", k)
		}
	}
}

// importedBefore imports path with the library, as an earlier run of the
// command would have.
func importedBefore(path string) func(t *testing.T, e *testEnv) {
	return func(t *testing.T, e *testEnv) {
		fx, err := djangoimport.Parse([]byte(readDump(t, path)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := djangoimport.Import(context.Background(), e.store, fx, false); err != nil {
			t.Fatal(err)
		}
	}
}

func TestImportDjango(t *testing.T) {
	// contents saves the store after setup, for checks that nothing was
	// written. Cases run one after the other.
	var contents map[string]string
	withOutsider := func(t *testing.T, e *testEnv) {
		e.mustCreateUser(t, "outsider", pwOld, nil)
		contents = redisContents(t, e)
	}
	unchanged := func(t *testing.T, e *testEnv, _ result) { assertUnchanged(t, e, contents) }
	then := func(setups ...func(*testing.T, *testEnv)) func(*testing.T, *testEnv) {
		return func(t *testing.T, e *testEnv) {
			for _, s := range setups {
				s(t, e)
			}
			contents = redisContents(t, e)
		}
	}
	badActive := func(t *testing.T, e *testEnv) {
		e.writeFile(t, "bad.json", strings.Replace(readDump(t, djangoDump), `"is_active": true`, `"is_active": "yes"`, 1))
	}
	runCases(t, []cliCase{
		{
			name:       "dry run lists the changes and writes nothing",
			setup:      withOutsider,
			invocation: invoke("import-django", "--dry-run", djangoDump),
			wantCode:   exitOK,
			wantStdout: []string{
				djangoDump + ": 7 content types, 29 permissions, 4 groups, 8 users.\n",
				"Dry run: comparing with the store, nothing will be written.\n",
				// (The built-in and the policy's models, blog.post among
				// them, are declared already.)
				"declare model   shop.order: add_order change_order refund_order view_order\n",
				"add permission  shop.refund_order\n",
				`create group    "Équipe support": +auth.view_user +blog.view_comment` + "\n",
				`create user     "alice": active; groups "editors"; permissions blog.add_comment` + "\n",
				`create user     "dave": inactive, staff, superuser` + "\n",
				"Dry run, nothing was written: would declare ",
				"create 4 groups, change 0 groups, create 8 users, update 0 users.\n",
			},
			// The test configuration enables pbkdf2_sha256 only.
			wantStderr: []string{
				`warning: user "bob": password hash algorithm not enabled: argon2 is not in password_hashers`,
				`warning: user "carol": password hash algorithm not enabled: bcrypt_sha256 is not in password_hashers`,
				`warning: user "root": password hash algorithm not enabled: pbkdf2_sha1 is not in password_hashers`,
			},
			check: func(t *testing.T, e *testEnv, r result) {
				unchanged(t, e, r)
				assertStrings(t, "users", e.usernames(t), "outsider")
				for _, u := range []string{"alice", "erin", "frank", "zoë"} {
					if strings.Contains(r.stderr, `"`+u+`"`) {
						t.Errorf("warning about %s, whose hash verifies or is unusable:\n%s", u, r)
					}
				}
			},
		},
		{
			name:       "import",
			setup:      withOutsider,
			invocation: invoke("import-django", djangoNaturalDump),
			wantCode:   exitOK,
			wantStdout: []string{
				djangoNaturalDump + ": 7 content types, 29 permissions, 4 groups, 8 users.\n",
				`create user     "alice" (id 2): active; groups "editors"; permissions blog.add_comment` + "\n",
				`create user     "zoë" (id 9): active; groups "shop_staff"` + "\n",
				"Imported: declared ",
				"created 4 groups, changed 0 groups, created 8 users, updated 0 users.\n",
			},
			check: func(t *testing.T, e *testEnv, r result) {
				if strings.Contains(r.stdout, "Dry run") {
					t.Errorf("a real run says dry run:\n%s", r)
				}
				assertStrings(t, "users", e.usernames(t), "alice", "bob", "carol", "dave", "erin", "frank", "outsider", "root", "zoë")
				assertStrings(t, "groups", e.groups(t), "editors", "nobody", "shop_staff", "Équipe support")
				assertStrings(t, "editors", e.groupMembers(t, "editors"), "alice", "bob", "carol")
				assertStrings(t, "editors' permissions", e.groupPerms(t, "editors"), "blog.can_publish", "blog.change_post", "blog.view_post")
				assertStrings(t, "frank's permissions", e.userPerms(t, "frank"), "auth.change_group", "contenttypes.view_contenttype")
				e.assertFlags(t, "dave", false, true, true)
				e.assertFlags(t, "root", true, true, true)
				// Django's pbkdf2_sha256 hashes verify with the test
				// configuration; frank's unusable password never does.
				e.assertAuth(t, "alice", "alice-Pa55word!", true)
				e.assertAuth(t, "zoë", "zoë-Ünïcode-Pässwörd", true)
				e.assertAuth(t, "alice", "wrong", false)
				e.assertAuth(t, "frank", "", false)
				e.assertAuth(t, "outsider", pwOld, true)
				known, err := e.store.KnownPermissions(context.Background())
				if err != nil || !slices.Contains(known, "shop.refund_order") || !slices.Contains(known, "blog.can_publish") {
					t.Errorf("known permissions %q (%v) lack the dump's", known, err)
				}
			},
		},
		{
			name:       "re-run says there is nothing to change",
			setup:      then(importedBefore(djangoDump)),
			invocation: invoke("import-django", djangoDump),
			wantCode:   exitOK,
			wantStdout: []string{djangoDump + ": 7 content types", "\nNothing to change: the store already matches the fixture.\n"},
			check: func(t *testing.T, e *testEnv, r result) {
				unchanged(t, e, r)
				for _, w := range []string{"create ", "update ", "declare ", "Imported"} {
					if strings.Contains(r.stdout, w) {
						t.Errorf("re-run reports %q:\n%s", w, r)
					}
				}
			},
		},
		{
			name:       "re-run in the other format",
			setup:      then(importedBefore(djangoDump)),
			invocation: invoke("import-django", "--dry-run", djangoNaturalDump),
			wantCode:   exitOK,
			wantStdout: []string{"Nothing to change: the store already matches the fixture.\n"},
			check:      unchanged,
		},
		{
			name: "re-run after changes in the gateway",
			setup: then(importedBefore(djangoDump), func(t *testing.T, e *testEnv) {
				e.mustCreateGroup(t, "legacy", []string{"alice"})
				if err := e.store.SetActive(context.Background(), "bob", false); err != nil {
					t.Fatal(err)
				}
			}),
			invocation: invoke("import-django", djangoDump),
			wantCode:   exitOK,
			wantStdout: []string{
				`update user     "alice" (id 1): groups -"legacy"` + "\n",
				`update user     "bob" (id 2): is_active false -> true` + "\n",
				"Imported: declared 0 models, added 0 permissions, created 0 groups, changed 0 groups, created 0 users, updated 2 users.\n",
			},
			check: func(t *testing.T, e *testEnv, _ result) {
				assertStrings(t, "legacy", e.groupMembers(t, "legacy"))
				e.assertFlags(t, "bob", true, true, false)
			},
		},
		{
			name:            "malformed file",
			setup:           then(badActive),
			invocation:      invoke("import-django", "@DIR/bad.json"),
			wantCode:        exitError,
			wantStderr:      []string{`gateway import-django: @DIR/bad.json: invalid Django fixture: object 33 (auth.user "alice"): field "is_active": want true or false, got "yes"` + "\nnothing was imported\n"},
			wantEmptyStdout: true,
			check:           unchanged,
		},
		{
			name: "every problem is listed",
			setup: then(func(t *testing.T, e *testEnv) {
				d := strings.Replace(readDump(t, djangoNaturalDump), `"is_active": true`, `"is_active": "yes"`, 1)
				d = strings.Replace(d, `"editors"`, `"editorz"`, 2) // the group and alice's membership: bob's and carol's dangle
				d = strings.TrimSuffix(strings.TrimSpace(d), "]") + `, {"model": "admin.logentry", "pk": 1, "fields": {}}]`
				e.writeFile(t, "bad.json", d)
			}),
			invocation: invoke("import-django", "--dry-run", "@DIR/bad.json"),
			wantCode:   exitError,
			wantStderr: []string{
				"invalid Django fixture: 4 problems:\n",
				`  object 40 (auth.user "alice"): field "is_active": want true or false, got "yes"` + "\n",
				`  object 41 (auth.user "bob"): field "groups": item 0: no auth.group ["editors"] in the fixture` + "\n",
				`  object 42 (auth.user "carol"): field "groups": item 0: no auth.group ["editors"] in the fixture` + "\n",
				`  object 48 (admin.logentry): model "admin.logentry" is not imported`,
				"nothing was imported\n",
			},
			wantEmptyStdout: true,
			check:           unchanged,
		},
		{
			name: "a malformed file is reported without Redis",
			setup: func(t *testing.T, e *testEnv) {
				badActive(t, e)
				e.srv.Stop()
			},
			invocation:      invoke("import-django", "@DIR/bad.json"),
			wantCode:        exitError,
			wantStderr:      []string{`object 33 (auth.user "alice"): field "is_active"`},
			wantEmptyStdout: true,
		},
		{
			name:            "Redis down",
			setup:           func(t *testing.T, e *testEnv) { e.srv.Stop() },
			invocation:      invoke("import-django", djangoDump),
			wantCode:        exitError,
			wantStderr:      []string{"cannot reach Redis at @ADDR"},
			wantEmptyStdout: true,
		},
		{
			name:            "missing file",
			setup:           withOutsider,
			invocation:      invoke("import-django", "@DIR/nope.json"),
			wantCode:        exitError,
			wantStderr:      []string{"gateway import-django: read @DIR/nope.json: open @DIR/nope.json: no such file or directory\n"},
			wantEmptyStdout: true,
			check:           unchanged,
		},
		{
			name:       "stdin",
			setup:      withOutsider,
			invocation: invocation{args: []string{"import-django", "-"}, stdin: readDumpOrEmpty(djangoDump)},
			wantCode:   exitOK,
			wantStdout: []string{"stdin: 7 content types, 29 permissions, 4 groups, 8 users.\n", "created 8 users"},
			check: func(t *testing.T, e *testEnv, _ result) {
				e.assertAuth(t, "erin", "erin-Plain-User9", true)
			},
		},
		{
			name:            "malformed stdin",
			setup:           withOutsider,
			invocation:      invocation{args: []string{"import-django", "--dry-run", "-"}, stdin: `[{"model": "auth.user", "fields": `},
			wantCode:        exitError,
			wantStderr:      []string{"gateway import-django: stdin: invalid Django fixture: not valid JSON at line 1, column"},
			wantEmptyStdout: true,
			check:           unchanged,
		},
		{
			name:       "no file",
			invocation: invoke("import-django", "--dry-run"),
			wantCode:   exitUsage,
			wantStderr: []string{"expected 1 argument(s), got 0", "usage: gateway import-django [--config FILE] [--dry-run] FILE"},
		},
		{
			name:       "two files",
			invocation: invoke("import-django", djangoDump, djangoNaturalDump),
			wantCode:   exitUsage,
			wantStderr: []string{"expected 1 argument(s), got 2"},
		},
		{
			name:       "unknown flag",
			invocation: invoke("import-django", "--dryrun", djangoDump),
			wantCode:   exitUsage,
			wantStderr: []string{"flag provided but not defined: -dryrun"},
		},
		{
			name:       "help",
			invocation: invoke("import-django", "--help"),
			wantCode:   exitOK,
			wantStdout: []string{"usage: gateway import-django [--config FILE] [--dry-run] FILE"},
		},
	})
}

// readDumpOrEmpty reads a dump for a case's stdin when the table is built.
func readDumpOrEmpty(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

// The command's output never shows a password hash: not the imported
// Django hashes, not the ones they replace.
func TestImportDjangoPrintsNoHashes(t *testing.T) {
	e := newTestEnv(t)
	importedBefore(djangoDump)(t, e)
	// Every user gets another hash, so a re-run replaces them all.
	for _, u := range e.usernames(t) {
		if err := e.store.SetPassword(context.Background(), u, e.hashers.MakeUnusable()); err != nil {
			t.Fatal(err)
		}
	}
	r := e.run(t, invoke("import-django", djangoNaturalDump))
	if r.code != exitOK || !strings.Contains(r.stdout, "password (hash replaced)") {
		t.Fatalf("re-run:\n%s", r)
	}
	fx, err := djangoimport.Parse([]byte(readDump(t, djangoDump)))
	if err != nil {
		t.Fatal(err)
	}
	for _, iu := range fx.Users {
		enc := iu.User.Password
		_, rest, _ := strings.Cut(enc, "$")
		for _, part := range append(strings.Split(rest, "$"), enc) {
			if len(part) >= 16 && strings.Contains(r.stdout+r.stderr, part) {
				t.Errorf("output shows part of %s's hash:\n%s", iu.User.Username, r)
			}
		}
		if !authn.IsUsable(enc) && strings.Contains(r.stdout+r.stderr, enc[1:]) {
			t.Errorf("output shows frank's unusable password")
		}
	}
}
