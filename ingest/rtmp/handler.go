package rtmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	gortmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"

	"github.com/relaymesh/relaymesh/ingest"
)

// handler is one RTMP connection.
type handler struct {
	gortmp.DefaultHandler
	s    *Server
	conn net.Conn
	log  *slog.Logger
	app  string
	pub  *publisher
	// release gives back the connection's session slot.
	release func()
}

// maxTag bounds one FLV tag read into memory (a 4K keyframe fits).
const maxTag = 8 << 20

func (h *handler) OnConnect(_ uint32, cmd *message.NetConnectionConnect) error {
	h.app = cmd.Command.App
	return nil
}

// OnPublish takes rtmp://HOST/live with stream key NAME[?token=TOKEN].
func (h *handler) OnPublish(_ *gortmp.StreamContext, _ uint32, cmd *message.NetStreamPublish) error {
	app, appQuery, _ := strings.Cut(h.app, "?")
	name, query, _ := strings.Cut(cmd.PublishingName, "?")
	log := h.log.With("stream", name)
	refuse := func(msg string) error {
		log.Warn("rtmp publish refused: " + msg)
		return errors.New(msg)
	}
	if strings.Trim(app, "/") != "live" {
		return refuse(fmt.Sprintf("publish to rtmp://HOST:1935/live with the stream name as key, not to application %q", app))
	}
	if h.pub != nil {
		// One publish per connection: a second stream id would otherwise
		// leave the first name claimed until the node restarts.
		return refuse(fmt.Sprintf("this connection already publishes %q; open another connection for another stream", h.pub.name))
	}
	if h.s.p.Reserve != nil && h.release == nil {
		release, err := h.s.p.Reserve(h.conn.RemoteAddr().String())
		if err != nil {
			return refuse(err.Error())
		}
		h.release = release
	}
	token := tokenOf(query)
	if token == "" {
		token = tokenOf(appQuery)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pub, err := h.s.p.Gate.Admit(ctx, ingest.Access{Protocol: "rtmp", Stream: name, Token: token, Client: h.conn.RemoteAddr().String(), Query: query})
	if err != nil {
		return refuse(err.Error())
	}
	h.pub = newPublisher(name, pub, log, h.s.p.AudioBitrate)
	log.Info("publisher joined", "role", "publisher", "via", "rtmp")
	return nil
}

func tokenOf(query string) string {
	q, err := url.ParseQuery(query)
	if err != nil {
		return ""
	}
	return q.Get("token")
}

func (h *handler) OnVideo(ts uint32, payload io.Reader) error {
	if h.pub == nil {
		return nil
	}
	b, err := readTag(payload)
	if err != nil {
		return err
	}
	h.pub.video(ts, b)
	return nil
}

func (h *handler) OnAudio(ts uint32, payload io.Reader) error {
	if h.pub == nil {
		return nil
	}
	b, err := readTag(payload)
	if err != nil {
		return err
	}
	h.pub.audio(ts, b)
	return nil
}

func readTag(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxTag+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxTag {
		return nil, fmt.Errorf("an FLV tag over %d bytes", maxTag)
	}
	return b, nil
}

func (h *handler) OnClose() {
	if h.pub != nil {
		h.pub.close()
		h.log.Info("publisher left", "stream", h.pub.name, "role", "publisher", "via", "rtmp")
	}
	if h.release != nil {
		h.release()
	}
	h.s.forget(h.conn)
}
