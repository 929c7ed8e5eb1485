package proxy

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/profile"
)

var testProfileHeaders = []ProfileHeader{
	{Field: "department", Header: "X-Remote-Department"},
	{Field: "tenant_id", Header: "x-tenant-id"},
	{Field: "tags", Header: "X-Remote-Tags"},
	{Field: "contractor", Header: "X-Remote-Contractor"},
	{Field: "hired", Header: "X-Remote-Hired"},
	{Field: "nickname", Header: "X-Remote-Nickname"},
}

func newProfileProxy(t *testing.T) *Proxy {
	t.Helper()
	p, err := New(upstreamsFor(t), testHeaders, gatewayCookies, Options{ProfileHeaders: testProfileHeaders})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func upstreamsFor(t *testing.T) []config.Upstream {
	t.Helper()
	return []config.Upstream{upstreamConfig("app", "http://127.0.0.1:9")}
}

func TestProfileHeaderValues(t *testing.T) {
	p := newProfileProxy(t)
	tests := []struct {
		name    string
		profile profile.Values
		want    map[string][]string // nil: absent
	}{
		{"no profile", nil, map[string][]string{
			"X-Remote-Department": nil, "X-Tenant-Id": nil, "X-Remote-Tags": nil,
			"X-Remote-Contractor": nil, "X-Remote-Hired": nil, "X-Remote-Nickname": nil,
		}},
		{"every type", profile.Values{
			"department": "sales", "tenant_id": int64(42), "tags": []string{"a", "b"},
			"contractor": false, "hired": time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC),
		}, map[string][]string{
			"X-Remote-Department": {"sales"}, "X-Tenant-Id": {"42"}, "X-Remote-Tags": {"a,b"},
			"X-Remote-Contractor": {"false"}, "X-Remote-Hired": {"2020-01-02T03:04:05Z"}, "X-Remote-Nickname": nil,
		}},
		{"encoded like identity headers, CRLF never sent", profile.Values{
			"department": "r&d\r\nX-Injected: 1", "tags": []string{"a,b", " pad ", "ün", "100%"}, "nickname": "Zoë",
		}, map[string][]string{
			"X-Remote-Department": {"r&d%0D%0AX-Injected: 1"},
			"X-Remote-Tags":       {"a%2Cb,%20pad%20,%C3%BCn,100%25"},
			"X-Remote-Nickname":   {"Zo%C3%AB"},
			"X-Injected":          nil,
		}},
		{"empty string and empty list send nothing", profile.Values{"department": "", "tags": []string{}}, map[string][]string{
			"X-Remote-Department": nil, "X-Remote-Tags": nil,
		}},
		{"undeclared fields are not sent", profile.Values{"salary": int64(1)}, map[string][]string{
			"X-Remote-Salary": nil,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			p.SetIdentity(h, &Identity{Username: "alice", Profile: tc.profile})
			for name, want := range tc.want {
				if got := h[name]; !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
	t.Run("anonymous gets none", func(t *testing.T) {
		h := http.Header{}
		p.SetIdentity(h, &Identity{Profile: profile.Values{"department": "sales"}})
		if len(h) != 0 {
			t.Errorf("headers %v", h)
		}
	})
}

func TestProfileHeadersStripped(t *testing.T) {
	p := newProfileProxy(t)
	h := http.Header{}
	for _, name := range []string{
		"X-Remote-Department", "x-remote-department", "X_REMOTE_DEPARTMENT", "X.Remote.Department",
		"X-Tenant-Id", "x_tenant_id", "X-TENANT.ID", "X-Remote-Tags", "x_remote_hired",
	} {
		h[name] = []string{"forged"}
	}
	h["X-Remote-Departments"] = []string{"kept"}
	h["X-Other"] = []string{"kept"}
	p.SanitizeRequest(h)
	want := http.Header{"X-Remote-Departments": {"kept"}, "X-Other": {"kept"}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("after sanitize %v, want %v", h, want)
	}
}

func TestNewProfileHeaders(t *testing.T) {
	tests := []struct {
		name    string
		headers []ProfileHeader
		wantErr string
	}{
		{"valid", testProfileHeaders, ""},
		{"invalid name", []ProfileHeader{{Field: "a", Header: "X A"}}, `profile field "a": "X A" is not a valid header name`},
		{"reserved", []ProfileHeader{{Field: "a", Header: "cookie"}}, "reserved"},
		{"forwarding", []ProfileHeader{{Field: "a", Header: "X-Forwarded-Dept"}}, "reserved"},
		{"always stripped", []ProfileHeader{{Field: "a", Header: "X_Real_IP"}}, "reserved"},
		{"clashes with an identity header", []ProfileHeader{{Field: "a", Header: "x_remote_user"}}, "clashes with user"},
		{"clashes with another field", []ProfileHeader{{Field: "a", Header: "X-A"}, {Field: "b", Header: "x.a"}}, `clashes with profile field "a"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(upstreamsFor(t), testHeaders, gatewayCookies, Options{ProfileHeaders: tc.headers})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}
