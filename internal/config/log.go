package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// CheckLog validates -log-format and -log-level, saying what to change.
func CheckLog(format, level string) error {
	var errs []error
	if format != "text" && format != "json" {
		errs = append(errs, fmt.Errorf("-log-format %q: want text or json", format))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		errs = append(errs, fmt.Errorf("-log-level %q: want debug, info, warn or error", level))
	}
	return errors.Join(errs...)
}

// Logger is the slog logger -log-format and -log-level ask for (checked
// by CheckLog; anything else gives text at info). Lines of one kind are
// rate-limited: 20 at once, then one every 3 s (RateLimit).
func Logger(w io.Writer, format, level string) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(RateLimit(h, 20, 3*time.Second))
}
