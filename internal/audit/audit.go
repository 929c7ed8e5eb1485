// Package audit records security events — Django's user_logged_in,
// user_logged_out and user_login_failed signals, lockouts, password
// changes, ended sessions, and changes to users, groups and permissions —
// as structured log lines and as entries of a capped Redis stream.
//
// An event holds when it happened, its name, the username (as attempted,
// for a failed login), the user id when known, the client IP, the user
// agent, the request id, where it came from (server or cli) and
// event-specific fields. Never passwords, hashes, session ids or tokens:
// fields whose name suggests one are written as "[redacted]".
//
// Writing the stream is best effort: a login or a command is never failed
// because its event could not be appended (Redis is down, say). Such an
// event is not dropped silently: it is logged at error level with every
// field, so the process log always has it.
package audit

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/config"
)

// Event names.
const (
	// LoggedIn: a successful login (Django's user_logged_in).
	LoggedIn = "user_logged_in"
	// LoggedOut: a logout that ended a session (user_logged_out).
	LoggedOut = "user_logged_out"
	// LoginFailed: a refused login (user_login_failed). Field reason:
	// invalid_credentials or locked_out.
	LoginFailed = "user_login_failed"
	// LockedOut: a username or client IP reached its limit and is locked
	// (django-axes' user_locked_out). Fields scope (username or ip),
	// subject, cooloff_seconds.
	LockedOut = "user_locked_out"
	// Unlocked: `gateway unlock` cleared a lock or failure count. Fields
	// scope, subject, failures, remaining_seconds.
	Unlocked = "throttle_unlocked"
	// PasswordChanged: a user's password was set.
	PasswordChanged = "password_changed"
	// PasswordChangeFailed: the password change page refused a wrong old
	// password.
	PasswordChangeFailed = "password_change_failed"
	// SessionRevoked: a session was ended other than by its own logout.
	SessionRevoked = "session_revoked"

	UserCreated     = "user_created"
	UserDeleted     = "user_deleted"
	UserActivated   = "user_activated"
	UserDeactivated = "user_deactivated"
	// UserProfileChanged: profile fields were set or unset; field
	// profile_fields lists their names (never their values).
	UserProfileChanged = "user_profile_changed"
	// UserPermissionGranted and UserPermissionRevoked: field permission.
	UserPermissionGranted = "user_permission_granted"
	UserPermissionRevoked = "user_permission_revoked"

	GroupCreated = "group_created"
	GroupDeleted = "group_deleted"
	// GroupMemberAdded and GroupMemberRemoved: field group; username is
	// the member.
	GroupMemberAdded   = "group_member_added"
	GroupMemberRemoved = "group_member_removed"
	// GroupPermissionGranted and GroupPermissionRevoked: fields group,
	// permission.
	GroupPermissionGranted = "group_permission_granted"
	GroupPermissionRevoked = "group_permission_revoked"
)

// Sources.
const (
	SourceServer = "server"
	SourceCLI    = "cli"
)

// Event is one audit event.
type Event struct {
	// Name is one of the constants above.
	Name string
	// Time defaults to now.
	Time time.Time
	// Username is the user concerned; for a failed login, as attempted.
	Username string
	// UserID is the user's id; 0 when unknown.
	UserID int64
	// ClientIP, UserAgent and RequestID describe the HTTP request, if any.
	ClientIP, UserAgent, RequestID string
	// Source is SourceServer or SourceCLI.
	Source string
	// Fields are event-specific. They may not use the names of the fields
	// above (such entries are dropped) and never hold secrets.
	Fields map[string]string
}

// Recorder records events. Record never fails the caller: problems are
// logged.
type Recorder interface {
	Record(ctx context.Context, e Event)
}

// Nop records nothing.
type Nop struct{}

// Record does nothing.
func (Nop) Record(context.Context, Event) {}

// Standard field names, in the order they are written.
const (
	FieldTime      = "time"
	FieldEvent     = "event"
	FieldUsername  = "username"
	FieldUserID    = "user_id"
	FieldClientIP  = "client_ip"
	FieldUserAgent = "user_agent"
	FieldRequestID = "request_id"
	FieldSource    = "source"
)

var standard = []string{FieldTime, FieldEvent, FieldUsername, FieldUserID, FieldClientIP, FieldUserAgent, FieldRequestID, FieldSource}

// Bounds on what one event holds.
const (
	maxValue     = 512
	maxUserAgent = 256
	maxUsername  = 256
	maxFields    = 32
)

// Redacted replaces the value of a field whose name suggests a secret.
const Redacted = "[redacted]"

// secretish are name fragments of fields never written.
var secretish = []string{"password", "passwd", "hash", "token", "secret", "cookie", "session_id", "sessionid", "csrf", "authorization"}

// Options configure an Auditor.
type Options struct {
	// Stream is the Redis key of the stream; empty or a nil client: log
	// only.
	Stream string
	// MaxLen caps the stream approximately (XADD MAXLEN ~).
	MaxLen int64
	// Logger receives one info line per event ("audit event"), and an
	// error line with the whole event when the stream cannot be written.
	Logger *slog.Logger
	// Timeout bounds one XADD; default 2s. The request's cancellation
	// does not cancel it: a client that hangs up still gets recorded.
	Timeout time.Duration
}

// OptionsFrom are the options the configuration asks for: the stream
// redis.key_prefix + audit.stream when audit.enabled, else log only.
func OptionsFrom(c *config.Config, log *slog.Logger) Options {
	o := Options{MaxLen: int64(c.Audit.MaxLen), Logger: log}
	if c.Audit.On() {
		o.Stream = c.Redis.KeyPrefix + c.Audit.Stream
	}
	return o
}

// Auditor writes events to the log and the stream.
type Auditor struct {
	rdb     redis.Cmdable
	stream  string
	maxLen  int64
	log     *slog.Logger
	timeout time.Duration
	now     func() time.Time
}

// New returns an Auditor. rdb may be nil (log only).
func New(rdb redis.Cmdable, o Options) *Auditor {
	a := &Auditor{rdb: rdb, stream: o.Stream, maxLen: o.MaxLen, log: o.Logger, timeout: o.Timeout, now: time.Now}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.timeout <= 0 {
		a.timeout = 2 * time.Second
	}
	if a.stream == "" {
		a.rdb = nil
	}
	return a
}

// Stream is the stream's key, "" when events are only logged.
func (a *Auditor) Stream() string {
	if a.rdb == nil {
		return ""
	}
	return a.stream
}

// Record logs e and appends it to the stream.
func (a *Auditor) Record(ctx context.Context, e Event) {
	if e.Time.IsZero() {
		e.Time = a.now()
	}
	kv := Values(e)
	attrs := make([]slog.Attr, 0, len(kv)/2+2)
	for i := 0; i < len(kv); i += 2 {
		if kv[i] == FieldTime {
			continue // the log line has its own time
		}
		attrs = append(attrs, slog.String(kv[i], kv[i+1]))
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "audit event", attrs...)
	if a.rdb == nil {
		return
	}
	xctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
	defer cancel()
	values := make([]any, len(kv))
	for i, v := range kv {
		values[i] = v
	}
	args := &redis.XAddArgs{Stream: a.stream, Values: values}
	if a.maxLen > 0 {
		args.MaxLen, args.Approx = a.maxLen, true
	}
	if err := a.rdb.XAdd(xctx, args).Err(); err != nil {
		attrs = append(attrs, slog.String("stream", a.stream), slog.String("error", err.Error()))
		a.log.LogAttrs(ctx, slog.LevelError, "audit event not written to the stream; this line is its only record", attrs...)
	}
}

// Values is e as the stream stores it: field, value pairs, the standard
// fields first (always present, "" when unknown), then the event's own
// fields sorted by name. Values are cut to a bounded length; fields named
// like a secret are redacted.
func Values(e Event) []string {
	uid := ""
	if e.UserID != 0 {
		uid = strconv.FormatInt(e.UserID, 10)
	}
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	kv := []string{
		FieldTime, t.UTC().Format(time.RFC3339Nano),
		FieldEvent, clip(e.Name, maxValue),
		FieldUsername, clip(e.Username, maxUsername),
		FieldUserID, uid,
		FieldClientIP, clip(e.ClientIP, maxValue),
		FieldUserAgent, clip(e.UserAgent, maxUserAgent),
		FieldRequestID, clip(e.RequestID, maxValue),
		FieldSource, clip(e.Source, maxValue),
	}
	names := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		if k != "" && !slices.Contains(standard, k) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	if len(names) > maxFields {
		names = names[:maxFields]
	}
	for _, k := range names {
		v := e.Fields[k]
		if secret(k) {
			v = Redacted
		}
		kv = append(kv, clip(k, 64), clip(v, maxValue))
	}
	return kv
}

func secret(name string) bool {
	n := strings.ToLower(name)
	for _, s := range secretish {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
