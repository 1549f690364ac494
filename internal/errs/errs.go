// Package errs gives domain errors a sentence for the person at the client
// and a sentinel for the code that maps them: the sentence is what Error
// says, the sentinel is what errors.Is finds. Domain packages return these;
// only the edges (HTTP, RTSP, RTMP) turn sentinels into status codes.
package errs

import "fmt"

type described struct {
	kind error
	err  error
}

func (d *described) Error() string   { return d.err.Error() }
func (d *described) Unwrap() []error { return []error{d.kind, d.err} }

// Errorf is an error that reads as the formatted sentence and is kind
// under errors.Is (as is any error the format wraps with %w).
func Errorf(kind error, format string, args ...any) error {
	return &described{kind: kind, err: fmt.Errorf(format, args...)}
}
