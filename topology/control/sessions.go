package control

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// Sessions carries WHIP/WHEP session requests between nodes over NATS
// (webrtchttp.Remote): the owner of a session subscribes to its subject,
// any node can send it a PATCH or DELETE as a request and relay the reply.
// A session nobody owns answers at once ("no responders"), so a wrong id
// is a prompt 404, not a timeout.
type Sessions struct {
	Conn *nats.Conn
	// Timeout bounds one forwarded request (an ICE restart can take a few
	// seconds); zero means 10 s.
	Timeout time.Duration
}

func subject(kind, id string) string { return "relaymesh.session." + kind + "." + id }

// maxBody bounds a forwarded body, as the HTTP side does.
const maxBody = 64 << 10

// Serve answers forwarded requests for one session with h.
func (s *Sessions) Serve(kind, stream, id string, h http.Handler) (func(), error) {
	sub, err := s.Conn.Subscribe(subject(kind, id), func(m *nats.Msg) {
		if m.Header.Get("Stream") != stream {
			return // another stream's session with the same id cannot exist; stay silent
		}
		req, err := http.NewRequest(m.Header.Get("Method"), "/"+kind+"/"+stream+"/"+id, bytes.NewReader(m.Data))
		if err != nil {
			return
		}
		for _, k := range []string{"Content-Type", "If-Match"} {
			if v := m.Header.Get(k); v != "" {
				req.Header.Set(k, v)
			}
		}
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		h.ServeHTTP(rec, req)
		reply := nats.NewMsg(m.Reply)
		reply.Header.Set("Status", strconv.Itoa(rec.status))
		for k, v := range rec.header {
			reply.Header[k] = v
		}
		reply.Data = rec.body.Bytes()
		_ = m.RespondMsg(reply)
	})
	if err != nil {
		return nil, err
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// Forward sends r to the owner of session id and copies its answer to w.
func (s *Sessions) Forward(w http.ResponseWriter, r *http.Request, kind, stream, id string) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		return false // the local handler reports the body
	}
	m := nats.NewMsg(subject(kind, id))
	m.Header.Set("Method", r.Method)
	m.Header.Set("Stream", stream)
	for _, k := range []string{"Content-Type", "If-Match"} {
		if v := r.Header.Get(k); v != "" {
			m.Header.Set(k, v)
		}
	}
	m.Data = body
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	resp, err := s.Conn.RequestMsg(m, timeout)
	if errors.Is(err, nats.ErrNoResponders) {
		r.Body = io.NopCloser(bytes.NewReader(body))
		return false
	}
	if err != nil {
		http.Error(w, "the node that owns this session did not answer: "+err.Error(), http.StatusBadGateway)
		return true
	}
	status, _ := strconv.Atoi(resp.Header.Get("Status"))
	for k, v := range resp.Header {
		if k != "Status" {
			w.Header()[k] = v
		}
	}
	if status == 0 {
		status = http.StatusBadGateway
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp.Data)
	return true
}

// recorder is the http.ResponseWriter of a forwarded request.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(s int) {
	if !r.wrote {
		r.status, r.wrote = s, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
