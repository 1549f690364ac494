package rtc

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// loggerFactory adapts slog to pion's logging. pion is chatty at info level
// about normal events, so everything below warnings goes to debug.
type loggerFactory struct{ l *slog.Logger }

func (f loggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLog{f.l.With("pion", scope)}
}

type pionLog struct{ l *slog.Logger }

func (p pionLog) log(level slog.Level, msg string) {
	if p.l.Enabled(context.Background(), level) {
		p.l.Log(context.Background(), level, msg)
	}
}

func (p pionLog) Trace(msg string)                  {}
func (p pionLog) Tracef(format string, args ...any) {}
func (p pionLog) Debug(msg string)                  { p.log(slog.LevelDebug, msg) }
func (p pionLog) Debugf(format string, args ...any) {
	p.log(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (p pionLog) Info(msg string) { p.log(slog.LevelDebug, msg) }
func (p pionLog) Infof(format string, args ...any) {
	p.log(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (p pionLog) Warn(msg string) { p.log(slog.LevelDebug, msg) }
func (p pionLog) Warnf(format string, args ...any) {
	p.log(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (p pionLog) Error(msg string) { p.log(slog.LevelWarn, msg) }
func (p pionLog) Errorf(format string, args ...any) {
	p.log(slog.LevelWarn, fmt.Sprintf(format, args...))
}
