package principalcache

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Subscriber is what Listen needs from Redis (redis.UniversalClient).
type Subscriber interface {
	Subscribe(ctx context.Context, channels ...string) *redis.PubSub
}

// Listen keeps c in step with the changes announced on channel until ctx
// ends: it subscribes, empties the cache and marks it live once the
// subscription is confirmed, drops what every message names, and pings on
// the subscriber's connection four times per MaxStaleness so that a
// silent connection is noticed. When the subscription fails, or shows no
// sign of life for three times MaxStaleness, the cache stops being used
// and Listen subscribes again on a new connection, with a growing pause
// (up to one second) while that fails.
func (c *Cache) Listen(ctx context.Context, rdb Subscriber, channel string, log *slog.Logger) {
	if c == nil {
		return
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := c.listenOnce(ctx, rdb, channel)
		c.reset(false)
		if ctx.Err() != nil {
			return
		}
		log.Warn("principal cache: invalidation channel lost; not caching until it is back", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

var errSilent = errors.New("no message or pong from Redis in time")

// listenOnce runs one subscription until it fails.
func (c *Cache) listenOnce(ctx context.Context, rdb Subscriber, channel string) error {
	ps := rdb.Subscribe(ctx, channel)
	defer ps.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	every := max(c.opts.MaxStaleness/4, 10*time.Millisecond)
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = ps.Ping(ctx) // a failure shows as silence
			}
		}
	}()

	subscribed := false
	lastLife := time.Now()
	for {
		msg, err := ps.ReceiveTimeout(ctx, every)
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				if time.Since(lastLife) > 3*c.opts.MaxStaleness {
					return errSilent
				}
				continue
			}
			return err
		}
		lastLife = time.Now()
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == channel {
				// (Re)subscribed: whatever was announced before is lost.
				c.reset(true)
				subscribed = true
			}
		case *redis.Message:
			c.Invalidate(m.Payload)
			c.last.Store(&m.Payload)
			if subscribed {
				c.markAlive()
			}
		case *redis.Pong:
			if subscribed {
				c.markAlive()
			}
		}
	}
}
