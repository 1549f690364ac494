package errs

import (
	"errors"
	"io"
	"testing"
)

func TestErrorfReadsAsTheSentenceAndIsTheKind(t *testing.T) {
	kind := errors.New("kind")
	err := Errorf(kind, "stream %q is busy: %w", "cam", io.EOF)
	if err.Error() != `stream "cam" is busy: EOF` {
		t.Errorf("Error() = %q", err.Error())
	}
	if !errors.Is(err, kind) || !errors.Is(err, io.EOF) {
		t.Error("the kind or the wrapped cause is lost")
	}
	if errors.Is(err, errors.New("kind")) {
		t.Error("matches another sentinel")
	}
}
