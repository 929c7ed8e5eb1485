package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxEncodedLength bounds a stored profile. The operations budget is
// about 1 KiB per user in Redis for a typical user; a profile near this
// bound is far from typical and is refused rather than stored.
const MaxEncodedLength = 4096

// ErrTooLarge reports a profile whose stored form exceeds MaxEncodedLength.
var ErrTooLarge = errors.New("profile too large")

// Encode is the object form of values: one compact JSON object with keys
// sorted and each value as EncodeValue writes it. Empty values encode as
// "". The store keeps each value in a field of its own (EncodeValue);
// this form bounds a profile's size (MaxEncodedLength) and shows values in
// diffs.
func Encode(values Values) (string, error) {
	if len(values) == 0 {
		return "", nil
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range sortedKeys(values) {
		enc, err := EncodeValue(name, values[name])
		if err != nil {
			return "", err
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(name)) // names are ASCII identifiers
		b.WriteByte(':')
		b.WriteString(enc)
	}
	b.WriteByte('}')
	if b.Len() > MaxEncodedLength {
		return "", fmt.Errorf("%w: %d bytes stored, at most %d", ErrTooLarge, b.Len(), MaxEncodedLength)
	}
	return b.String(), nil
}

// EncodeValue is the stored form of the value v of the field name: compact
// JSON, strings as JSON strings, integers as JSON integers, booleans as
// true/false, string lists as arrays of strings and timestamps as RFC 3339
// UTC strings. It checks the name (a valid field name) and the value (a
// supported Go type, valid UTF-8), not the size (Encode).
func EncodeValue(name string, v any) (string, error) {
	if !validName(name) {
		return "", fmt.Errorf("%w: field name %s", ErrInvalidValue, quote(name))
	}
	var b strings.Builder
	switch v := v.(type) {
	case string:
		if !utf8.ValidString(v) {
			return "", fmt.Errorf("%w: %s: must be valid UTF-8", ErrInvalidValue, name)
		}
		writeJSONString(&b, v)
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case []string:
		b.WriteByte('[')
		for j, s := range v {
			if !utf8.ValidString(s) {
				return "", fmt.Errorf("%w: %s[%d]: must be valid UTF-8", ErrInvalidValue, name, j)
			}
			if j > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, s)
		}
		b.WriteByte(']')
	case time.Time:
		if v.IsZero() {
			return "", fmt.Errorf("%w: %s: zero timestamp", ErrInvalidValue, name)
		}
		writeJSONString(&b, v.UTC().Format(time.RFC3339Nano))
	default:
		return "", fmt.Errorf("%w: %s: unsupported Go type %T", ErrInvalidValue, name, v)
	}
	return b.String(), nil
}

func writeJSONString(b *strings.Builder, s string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a valid UTF-8 string always encodes
	b.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// DecodeField parses one stored value (EncodeValue's form) of the field
// name, strictly: name must be a valid field name and s exactly one JSON
// string, integer (no fraction, no exponent, in int64), boolean or array
// of strings, in valid UTF-8, nothing after it (no null, no object, no
// float). Anything else wraps ErrCorrupt. A timestamp comes back as its
// text (see Values).
func DecodeField(name, s string) (any, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: bad field name", ErrCorrupt)
	}
	if len(s) > MaxEncodedLength || !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: field %s: too long or not UTF-8", ErrCorrupt, name)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, fmt.Errorf("%w: field %s: %w", ErrCorrupt, name, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: field %s: data after the value", ErrCorrupt, name)
	}
	return v, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%w: expected %q", ErrCorrupt, want)
	}
	return nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case string:
		return v, nil
	case bool:
		return v, nil
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n == math.MinInt64 && string(v) != "-9223372036854775808" {
			return nil, errors.New("not an integer")
		}
		return n, nil
	case json.Delim:
		if v != '[' {
			return nil, errors.New("not a string, integer, boolean or list of strings")
		}
		list := []string{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			s, ok := tok.(string)
			if !ok {
				return nil, errors.New("a list item is not a string")
			}
			list = append(list, s)
		}
		if err := expectDelim(dec, ']'); err != nil {
			return nil, err
		}
		return list, nil
	}
	return nil, errors.New("not a string, integer, boolean or list of strings")
}

// decodeJSONStrings parses a JSON array of strings (the text form of a
// string list holding commas).
func decodeJSONStrings(s string) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	var l []string
	if err := dec.Decode(&l); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the array")
	}
	if l == nil {
		return nil, errors.New("not an array")
	}
	return l, nil
}

func encodeJSONStrings(l []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, s)
	}
	b.WriteByte(']')
	return b.String()
}
