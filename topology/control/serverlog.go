package control

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/nats-io/nats.go"
)

// serverLog passes what an operator needs of a clustered embedded
// server's log to the node's: leaders elected and lost, and warnings. Its
// banner and route chatter stay at debug, and its route dial errors too
// (every origin dials the others before they run).
type serverLog struct{ log *slog.Logger }

func (l serverLog) Noticef(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.Contains(msg, "leader") {
		l.log.Info(msg)
		return
	}
	l.log.Debug(msg)
}
func (l serverLog) Warnf(format string, v ...any)  { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l serverLog) Fatalf(format string, v ...any) { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLog) Errorf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLog) Debugf(string, ...any)          {}
func (l serverLog) Tracef(string, ...any)          {}

// connLog logs a client connection's losses and reconnections: a node's
// view of the control plane moving to another server of a cluster.
func connLog(log *slog.Logger) []nats.Option {
	if log == nil {
		return nil
	}
	return []nats.Option{
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("NATS connection lost; reconnecting", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("NATS reconnected", "server", nc.ConnectedUrlRedacted()) }),
	}
}
