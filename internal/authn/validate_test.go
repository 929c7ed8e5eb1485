package authn

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateUsername(t *testing.T) {
	tests := []struct {
		name     string
		username string
		wantErr  string // "" for valid
	}{
		{"ascii", "alice", ""},
		{"all punctuation allowed", "a.b@c+d-e_f", ""},
		{"unicode letters", "Zoë_Ñandú", ""},
		{"cjk", "用户", ""},
		{"digits only", "12345", ""},
		{"max length", strings.Repeat("é", 150), ""},
		{"empty", "", "must not be empty"},
		{"too long", strings.Repeat("a", 151), "151 characters"},
		{"space", "john doe", `' '`},
		{"slash", "a/b", `'/'`},
		{"colon", "a:b", `':'`},
		{"trailing newline", "alice\n", `'\n'`},
		{"combining mark is not a word char", "e\u0301", "at byte 1"},
		{"invalid utf-8", "a\xffb", "UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateUsername(tc.username)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidUsername) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ErrInvalidUsername containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNormalizeUsername(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ligature", "\ufb01nn", "finn"},
		{"fullwidth", "ａｌｉｃｅ", "alice"},
		{"composed stays", "Zoë", "Zoë"},
		{"decomposed composes", "Zoe\u0308", "Zoë"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NormalizeUsername(tc.in); got != tc.want {
				t.Errorf("NormalizeUsername(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestValidateGroupName(t *testing.T) {
	tests := []struct {
		name    string
		group   string
		wantErr string
	}{
		{"simple", "editors", ""},
		{"spaces and unicode", "Éditeurs en chef", ""},
		{"max length", strings.Repeat("g", 150), ""},
		{"empty", "", "must not be empty"},
		{"too long", strings.Repeat("g", 151), "151 characters"},
		{"colon", "a:perms", `':'`},
		{"open brace", "a{b", `'{'`},
		{"close brace", "a}b", `'}'`},
		{"newline", "a\nb", "control character"},
		{"nul", "a\x00b", "control character"},
		{"invalid utf-8", "\xff", "UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateGroupName(tc.group)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidGroupName) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ErrInvalidGroupName containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidatePermission(t *testing.T) {
	tests := []struct {
		name    string
		perm    string
		wantErr string
	}{
		{"django style", "blog.change_post", ""},
		{"underscore label", "_x.Y9", ""},
		{"digits in label", "app2.view_thing", ""},
		{"max length", "a." + strings.Repeat("c", 253), ""},
		{"empty", "", "must not be empty"},
		{"too long", "a." + strings.Repeat("c", 254), "at most 255"},
		{"no dot", "blogchange_post", "missing '.'"},
		{"uppercase label", "Blog.change_post", `app_label "Blog"`},
		{"label starts with digit", "1blog.x", `app_label "1blog"`},
		{"empty label", ".x", `app_label ""`},
		{"empty codename", "blog.", `codename ""`},
		{"two dots", "blog.change.post", `codename "change.post"`},
		{"dash in codename", "blog.change-post", `codename "change-post"`},
		{"space", "blog.change post", `codename "change post"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidatePermission(tc.perm)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidPermission) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ErrInvalidPermission containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestEffectivePermissions(t *testing.T) {
	known := []string{"blog.add_post", "blog.change_post", "blog.delete_post", "shop.view_order"}
	tests := []struct {
		name       string
		user       *User
		direct     []string
		groupPerms []string
		want       []string
	}{
		{"nil user", nil, []string{"blog.add_post"}, nil, []string{}},
		{"inactive user has none", &User{IsActive: false}, []string{"blog.add_post"}, []string{"shop.view_order"}, []string{}},
		{"inactive superuser has none", &User{IsActive: false, IsSuperuser: true}, nil, nil, []string{}},
		{"active superuser has every known", &User{IsActive: true, IsSuperuser: true}, []string{"blog.add_post"}, nil, known},
		{"staff flag grants nothing", &User{IsActive: true, IsStaff: true}, nil, nil, []string{}},
		{"direct only", &User{IsActive: true}, []string{"shop.view_order", "blog.add_post"}, nil, []string{"blog.add_post", "shop.view_order"}},
		{"groups only", &User{IsActive: true}, nil, []string{"blog.change_post"}, []string{"blog.change_post"}},
		{"direct union groups deduplicated", &User{IsActive: true}, []string{"blog.add_post", "blog.change_post"}, []string{"blog.change_post", "blog.delete_post"}, []string{"blog.add_post", "blog.change_post", "blog.delete_post"}},
		{"active nothing", &User{IsActive: true}, nil, nil, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := EffectivePermissions(tc.user, tc.direct, tc.groupPerms, known)
			if got == nil || strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
