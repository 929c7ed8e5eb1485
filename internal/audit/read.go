package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// Entry is one event as read back from the stream.
type Entry struct {
	// ID is the stream entry's id ("1700000000000-0").
	ID string
	// Fields are the entry's fields; every value is a string.
	Fields map[string]string
}

func entries(msgs []redis.XMessage) []Entry {
	out := make([]Entry, len(msgs))
	for i, m := range msgs {
		f := make(map[string]string, len(m.Values))
		for k, v := range m.Values {
			f[k] = fmt.Sprint(v)
		}
		out[i] = Entry{ID: m.ID, Fields: f}
	}
	return out
}

// MarshalJSON writes the entry as one JSON object: "id", then the
// standard fields in their order, then the others sorted by name.
func (e Entry) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	write := func(k, v string) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(v)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	write("id", e.ID)
	for _, k := range standard {
		if v, ok := e.Fields[k]; ok {
			write(k, v)
		}
	}
	var rest []string
	for k := range e.Fields {
		if k != "id" && !slices.Contains(standard, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		write(k, e.Fields[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Latest returns the last n entries of the stream, oldest first.
func Latest(ctx context.Context, rdb redis.Cmdable, stream string, n int64) ([]Entry, error) {
	msgs, err := rdb.XRevRangeN(ctx, stream, "+", "-", n).Result()
	if err != nil {
		return nil, err
	}
	slices.Reverse(msgs)
	return entries(msgs), nil
}

// Follow calls fn with every entry added to the stream after the entry
// with id after ("$": from now on), until ctx ends (then it returns nil)
// or reading fails. It polls with blocking reads of at most poll.
func Follow(ctx context.Context, rdb redis.Cmdable, stream, after string, poll time.Duration, fn func(Entry) error) error {
	if after == "" {
		after = "$"
	}
	for ctx.Err() == nil {
		res, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{stream, after}, Block: poll, Count: 100}).Result()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, redis.Nil):
			continue // nothing new within poll
		case err != nil:
			return err
		}
		for _, s := range res {
			for _, e := range entries(s.Messages) {
				if err := fn(e); err != nil {
					return err
				}
				after = e.ID
			}
		}
	}
	return nil
}
