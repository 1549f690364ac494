package rtc

import (
	"fmt"
	"testing"

	"github.com/pion/sdp/v3"
)

func TestSendRIDs(t *testing.T) {
	for _, c := range []struct {
		attrs []string
		want  string
	}{
		{nil, `[""]`},
		{[]string{"rid:h send", "rid:m send", "rid:l send", "simulcast:send h;m;l"}, `["h" "m" "l"]`},
		{[]string{"rid:q send", "rid:f send", "simulcast:send q;~f"}, `["q" "f"]`},                    // paused
		{[]string{"rid:a send", "rid:b send", "simulcast:send a,b"}, `["a"]`},                         // alternatives
		{[]string{"rid:h send", "rid:l recv", "simulcast:send h;l"}, `["h"]`},                         // l is not sent
		{[]string{"rid:h send", "simulcast:recv h"}, `[""]`},                                          // not sent
		{[]string{"rid:h@x send", "rid:l send", "simulcast:send h@x;l"}, `["l"]`},                     // bad syntax
		{[]string{"rid:h send pt=96", "rid:l send", "simulcast:recv r send h;l"}, `["h" "l"]`},        // both ways
		{[]string{"rid:h send", "rid:l send"}, `[""]`},                                                // no simulcast line
		{[]string{"rid:1 send", "rid:2 send", "simulcast:send 1;2;2"}, `["1" "2"]`},                   // repeated
		{[]string{"rid:a send", "rid:b send", "simulcast:send a;b", "simulcast:send b"}, `["a" "b"]`}, // first line
	} {
		m := &sdp.MediaDescription{}
		for _, a := range c.attrs {
			k, v, _ := cut(a)
			m.Attributes = append(m.Attributes, sdp.Attribute{Key: k, Value: v})
		}
		if got := fmt.Sprintf("%q", SendRIDs(m)); got != c.want {
			t.Errorf("SendRIDs(%v) = %s, want %s", c.attrs, got, c.want)
		}
	}
}

func cut(a string) (string, string, bool) {
	for i := range a {
		if a[i] == ':' {
			return a[:i], a[i+1:], true
		}
	}
	return a, "", false
}
