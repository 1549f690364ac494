package fanout

import (
	"errors"
	"regexp"

	"github.com/relaymesh/relaymesh/internal/errs"
)

// ErrBadName is the kind of error CheckName returns.
var ErrBadName = errors.New("bad stream name")

var streamName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckName says which rule a stream name breaks (INTERFACE.md, Names), or
// returns nil. Every door checks it before anything else.
func CheckName(name string) error {
	switch {
	case name == "":
		return errs.Errorf(ErrBadName, "the stream name is empty: use 1 to 64 of A-Z a-z 0-9 _ -")
	case len(name) > 64:
		return errs.Errorf(ErrBadName, "the stream name is %d characters long; the limit is 64", len(name))
	case !streamName.MatchString(name):
		return errs.Errorf(ErrBadName, "the stream name %q has characters other than A-Z a-z 0-9 _ -", name)
	}
	return nil
}
