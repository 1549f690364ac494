package rtmp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/yutopp/go-amf0"
	"github.com/yutopp/go-rtmp/handshake"

	"github.com/relaymesh/relaymesh/fanout"
)

// PullParams configures Pull.
type PullParams struct {
	AudioBitrate int // Opus bitrate for transcoded AAC; zero means 128 kbit/s
	Log          *slog.Logger
	// Silence ends the pull when the server sends nothing for this long,
	// and bounds the connection's setup; zero means 10 s.
	Silence time.Duration
}

// ErrSourceEnded is returned by Pull when the server says the stream
// stopped (NetStream.Play.Stop, UnpublishNotify, Complete).
var ErrSourceEnded = errors.New("the source stopped publishing")

// Pull plays an rtmp://HOST[:PORT]/APP/STREAM URL, as ffplay or a CDN edge
// would, and publishes what it carries into pub exactly as a pushed RTMP
// stream is published: AAC transcoded to Opus, parameter sets before
// keyframes, Enhanced RTMP codecs. It ends pub and returns when the
// server ends the stream or fails, when it goes silent, or when ctx ends.
func Pull(ctx context.Context, rawURL string, pub *fanout.Publication, p PullParams) error {
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if p.AudioBitrate == 0 {
		p.AudioBitrate = 128000
	}
	if p.Silence == 0 {
		p.Silence = 10 * time.Second
	}
	target, err := parsePullURL(rawURL)
	if err != nil {
		pub.End()
		return err
	}
	pb := &publisher{name: target.stream, pub: pub, log: p.Log, bitrate: p.AudioBitrate, warned: map[string]bool{}}
	defer pb.close()
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", target.host)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() }) // unblocks a read when ctx ends
	defer stop()
	c := &client{conn: conn, in: newChunkReader(conn), out: 128, ackWindow: 2500000, silence: p.Silence}
	err = c.play(target, pb)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

type pullTarget struct {
	host, app, stream, tcURL string
}

// parsePullURL splits rtmp://host[:port]/app/stream[?query]: the
// application is the first path element, the stream name the rest with
// the query (where servers expect tokens), as ffmpeg and OBS split them.
func parsePullURL(raw string) (pullTarget, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return pullTarget{}, fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "rtmp" {
		return pullTarget{}, fmt.Errorf("%q: only rtmp:// URLs can be pulled", raw)
	}
	app, stream, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if app == "" || stream == "" || u.Host == "" {
		return pullTarget{}, fmt.Errorf("%q: an RTMP URL names a host, an application and a stream: rtmp://HOST/APP/STREAM", raw)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "1935")
	}
	if u.RawQuery != "" {
		stream += "?" + u.RawQuery
	}
	return pullTarget{host: host, app: app, stream: stream, tcURL: "rtmp://" + u.Host + "/" + app}, nil
}

// client is one playing RTMP connection.
type client struct {
	conn      net.Conn
	in        *chunkReader
	out       int // our chunk size
	ackWindow uint64
	acked     uint64
	silence   time.Duration
	msid      uint32 // the play stream's id
}

// play runs the client side of RTMP's connect, createStream and play
// (RTMP specification 1.0, §7.2.1.1, §7.2.1.3, §7.2.2.1), then hands the
// stream's audio and video to pb until the stream ends.
func (c *client) play(t pullTarget, pb *publisher) error {
	_ = c.conn.SetDeadline(time.Now().Add(c.silence)) // the whole setup, as for silence later
	if err := handshake.HandshakeWithServer(c.conn, c.conn, &handshake.Config{}); err != nil {
		return fmt.Errorf("rtmp handshake: %w", err)
	}
	const ourChunkSize = 4096
	if err := c.send(2, rtmpMessage{typ: msgSetChunkSize, body: binary.BigEndian.AppendUint32(nil, ourChunkSize)}); err != nil {
		return err
	}
	c.out = ourChunkSize
	// fourCcList announces Enhanced RTMP (veovera E-RTMP v1, "Extending
	// NetConnection connect Command"), so servers send HEVC, AV1, VP9, Opus.
	if err := c.command(3, 0, "connect", 1, map[string]any{
		"app": t.app, "flashVer": "LNX 9,0,124,2", "tcUrl": t.tcURL, "fpad": false,
		"capabilities": 15, "audioCodecs": 0x0fff, "videoCodecs": 0x00ff, "videoFunction": 1,
		"fourCcList": []any{"av01", "vp09", "hvc1", "Opus"},
	}); err != nil {
		return err
	}
	if _, err := c.await(1, pb); err != nil {
		return fmt.Errorf("rtmp connect to %s: %w", t.tcURL, err)
	}
	if err := c.send(2, rtmpMessage{typ: msgWinAckSize, body: binary.BigEndian.AppendUint32(nil, uint32(c.ackWindow))}); err != nil {
		return err
	}
	if err := c.command(3, 0, "createStream", 2, nil); err != nil {
		return err
	}
	res, err := c.await(2, pb)
	if err != nil {
		return fmt.Errorf("rtmp createStream: %w", err)
	}
	var id float64
	if len(res) > 0 {
		id, _ = res[len(res)-1].(float64)
	}
	if id < 1 || id > 1<<20 {
		return fmt.Errorf("rtmp createStream: no stream id in the answer %v", res)
	}
	c.msid = uint32(id)
	// SetBufferLength (§7.1.7, event 3), as players send before play.
	ev := binary.BigEndian.AppendUint16(nil, 3)
	ev = binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(ev, c.msid), 1000)
	if err := c.send(2, rtmpMessage{typ: msgUserControl, body: ev}); err != nil {
		return err
	}
	// Start -2000: live if there is a live stream, else recorded (ffmpeg's).
	if err := c.command(8, c.msid, "play", 0, nil, t.stream, -2000); err != nil {
		return err
	}
	_ = c.conn.SetDeadline(time.Time{})
	for {
		m, err := c.next(pb)
		if err != nil {
			return err
		}
		if m.typ == msgCommandAMF0 || m.typ == msgCommandAMF3 {
			if err := c.status(m, pb); err != nil {
				return err
			}
		}
	}
}

// await reads until the answer to transaction tx: its values after the
// name and transaction id, or the server's _error as an error.
func (c *client) await(tx float64, pb *publisher) ([]any, error) {
	for {
		m, err := c.next(pb)
		if err != nil {
			return nil, err
		}
		if m.typ != msgCommandAMF0 && m.typ != msgCommandAMF3 {
			continue
		}
		v := decodeCommand(m)
		if len(v) < 2 {
			continue
		}
		name, _ := v[0].(string)
		if id, _ := v[1].(float64); id != tx || (name != "_result" && name != "_error") {
			continue
		}
		if name == "_error" {
			return nil, fmt.Errorf("refused: %s", describeStatus(v[2:]))
		}
		return v[2:], nil
	}
}

// status acts on a command after play: onStatus says whether the stream
// plays, was not found, or stopped.
func (c *client) status(m rtmpMessage, pb *publisher) error {
	v := decodeCommand(m)
	if len(v) == 0 {
		return nil
	}
	switch name, _ := v[0].(string); name {
	case "onStatus":
		info := statusInfo(v)
		code, _ := info["code"].(string)
		switch code {
		case "NetStream.Play.Start", "NetStream.Play.Reset", "NetStream.Data.Start", "NetStream.Play.PublishNotify":
			pb.log.Info("rtmp pull playing", "code", code)
		case "NetStream.Play.Stop", "NetStream.Play.UnpublishNotify", "NetStream.Play.Complete":
			return fmt.Errorf("%w (%s)", ErrSourceEnded, code)
		default:
			if level, _ := info["level"].(string); level == "error" {
				return fmt.Errorf("rtmp play refused: %s", describeStatus(v[2:]))
			}
		}
	case "close":
		return fmt.Errorf("%w (the server closed the stream)", ErrSourceEnded)
	}
	return nil
}

// next reads one message, answering the protocol's control messages on
// the way and handing media to pb; a silent server is an error.
func (c *client) next(pb *publisher) (rtmpMessage, error) {
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(c.silence))
		m, err := c.in.next()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return m, fmt.Errorf("the source sent nothing for %v", c.silence)
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return m, fmt.Errorf("%w (the server closed the connection)", ErrSourceEnded)
			}
			return m, err
		}
		// Acknowledge every window of bytes received (§5.4.3).
		if c.in.read-c.acked >= c.ackWindow {
			c.acked = c.in.read
			if err := c.send(2, rtmpMessage{typ: msgAck, body: binary.BigEndian.AppendUint32(nil, uint32(c.in.read))}); err != nil {
				return m, err
			}
		}
		switch m.typ {
		case msgSetChunkSize:
			if err := c.in.setChunkSize(m.body); err != nil {
				return m, err
			}
		case msgWinAckSize:
			if len(m.body) >= 4 {
				if w := binary.BigEndian.Uint32(m.body); w > 0 {
					c.ackWindow = uint64(w)
				}
			}
		case msgUserControl:
			// PingRequest (event 6) wants a PingResponse (7) with its time (§7.1.7).
			if len(m.body) >= 6 && binary.BigEndian.Uint16(m.body) == 6 {
				body := append(binary.BigEndian.AppendUint16(nil, 7), m.body[2:6]...)
				if err := c.send(2, rtmpMessage{typ: msgUserControl, body: body}); err != nil {
					return m, err
				}
			}
		// The connection plays one stream, so media on any message stream
		// is its: ffmpeg's listen mode sends it on stream 0, not on the one
		// createStream gave.
		case msgAudio, msgVideo:
			if c.msid != 0 {
				c.media(m.typ, m.ts, m.body, pb)
			}
		case msgAggregate:
			if c.msid != 0 {
				c.aggregate(m, pb)
			}
		case msgCommandAMF0, msgCommandAMF3:
			return m, nil
		}
	}
}

func (c *client) media(typ uint8, ts uint32, body []byte, pb *publisher) {
	if len(body) == 0 {
		return
	}
	if typ == msgVideo {
		pb.video(ts, body)
	} else {
		pb.audio(ts, body)
	}
}

// aggregate splits an aggregate message (§7.1.6): FLV tags whose
// timestamps are offset so that the first one has the message's.
func (c *client) aggregate(m rtmpMessage, pb *publisher) {
	b := m.body
	var base uint32
	for first := true; len(b) >= 11; first = false {
		typ, size := b[0], int(u24(b[1:]))
		ts := u24(b[4:]) | uint32(b[7])<<24
		if len(b) < 11+size+4 {
			return
		}
		if first {
			base = ts
		}
		if typ == msgAudio || typ == msgVideo {
			c.media(typ, m.ts+ts-base, b[11:11+size], pb)
		}
		b = b[11+size+4:] // the tag, then its PreviousTagSize
	}
}

func (c *client) send(csid byte, m rtmpMessage) error {
	_, err := c.conn.Write(appendMessage(nil, csid, c.out, m))
	return err
}

// command sends an AMF0 command message (§7.1.1).
func (c *client) command(csid byte, msid uint32, name string, tx float64, args ...any) error {
	var body bytes.Buffer
	enc := amf0.NewEncoder(&body)
	for _, v := range append([]any{name, tx}, args...) {
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return c.send(csid, rtmpMessage{typ: msgCommandAMF0, msid: msid, body: body.Bytes()})
}

// decodeCommand reads a command's values (an AMF3 command message starts
// with a format byte, then AMF0 values).
func decodeCommand(m rtmpMessage) []any {
	b := m.body
	if m.typ == msgCommandAMF3 && len(b) > 0 {
		b = b[1:]
	}
	dec := amf0.NewDecoder(bytes.NewReader(b))
	var out []any
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			return out
		}
		out = append(out, v)
	}
}

// statusInfo is the information object of an onStatus or _error.
func statusInfo(v []any) map[string]any {
	for i := len(v) - 1; i >= 0; i-- {
		if m, ok := v[i].(map[string]any); ok {
			return m
		}
	}
	return nil
}

func describeStatus(v []any) string {
	info := statusInfo(v)
	code, _ := info["code"].(string)
	desc, _ := info["description"].(string)
	switch {
	case code != "" && desc != "":
		return code + ": " + desc
	case code != "":
		return code
	}
	return fmt.Sprint(v)
}
