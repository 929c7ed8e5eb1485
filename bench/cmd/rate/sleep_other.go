//go:build !linux

package main

import "time"

const preciseSleepAvailable = false

type sleeper struct{}

func newSleeper(bool) (*sleeper, error) { return nil, nil }

// until returns at t or after (Go's timer resolution).
func (s *sleeper) until(t time.Time) { time.Sleep(time.Until(t)) }

func (s *sleeper) close() {}
