package rtmp

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// The RTMP chunk stream (Adobe RTMP specification 1.0, §5.3), client side:
// go-rtmp's chunk streamer is made for its own connections and cannot be
// used alone (its acknowledgements go through an unexported hook), so
// relaymesh's pull client frames messages itself. Only what a playing
// client needs: reassembly of any message the server sends, and whole
// messages of a few bytes written back.

// RTMP message types (§5.4, §7.1).
const (
	msgSetChunkSize  = 1
	msgAbort         = 2
	msgAck           = 3
	msgUserControl   = 4
	msgWinAckSize    = 5
	msgSetPeerBW     = 6
	msgAudio         = 8
	msgVideo         = 9
	msgDataAMF3      = 15
	msgCommandAMF3   = 17
	msgDataAMF0      = 18
	msgCommandAMF0   = 20
	msgAggregate     = 22
	maxChunkStreams  = 64       // distinct chunk stream ids a server may use at once
	maxPeerChunkSize = 16 << 20 // larger chunk sizes are refused
)

type rtmpMessage struct {
	typ  uint8
	ts   uint32 // milliseconds
	msid uint32 // message stream id
	body []byte
}

// chunkReader reassembles messages from the chunks a server sends.
type chunkReader struct {
	r       *bufio.Reader
	size    int // the server's chunk size (§5.4.1): 128 until it says otherwise
	streams map[uint32]*chunkStream
	read    uint64 // bytes read, for acknowledgements (§5.4.3)
	hdr     [11]byte
}

// chunkStream is what a chunk stream's later headers leave out (§5.3.1.2).
type chunkStream struct {
	ts, delta uint32
	length    uint32
	typ       uint8
	msid      uint32
	ext       bool // the last header had an extended timestamp
	buf       []byte
}

func newChunkReader(r io.Reader) *chunkReader {
	return &chunkReader{r: bufio.NewReaderSize(r, 64<<10), size: 128, streams: map[uint32]*chunkStream{}}
}

func (c *chunkReader) full(b []byte) error {
	n, err := io.ReadFull(c.r, b)
	c.read += uint64(n)
	return err
}

// next returns the next whole message.
func (c *chunkReader) next() (rtmpMessage, error) {
	for {
		b := c.hdr[:1]
		if err := c.full(b); err != nil {
			return rtmpMessage{}, err
		}
		format, csid := b[0]>>6, uint32(b[0]&0x3f)
		switch csid { // §5.3.1.1: 2- and 3-byte basic headers
		case 0:
			if err := c.full(b); err != nil {
				return rtmpMessage{}, err
			}
			csid = 64 + uint32(b[0])
		case 1:
			b = c.hdr[:2]
			if err := c.full(b); err != nil {
				return rtmpMessage{}, err
			}
			csid = 64 + uint32(b[0]) + uint32(b[1])<<8
		}
		cs := c.streams[csid]
		if cs == nil {
			if format != 0 {
				return rtmpMessage{}, fmt.Errorf("chunk stream %d starts without a full header", csid)
			}
			if len(c.streams) >= maxChunkStreams {
				return rtmpMessage{}, fmt.Errorf("more than %d chunk streams", maxChunkStreams)
			}
			cs = &chunkStream{}
			c.streams[csid] = cs
		}
		start := len(cs.buf) == 0
		if !start && format != 3 {
			return rtmpMessage{}, fmt.Errorf("chunk stream %d: a new message header inside a message", csid)
		}
		field := uint32(0)
		if format < 3 {
			h := c.hdr[:[]int{11, 7, 3}[format]]
			if err := c.full(h); err != nil {
				return rtmpMessage{}, err
			}
			field = u24(h)
			if format < 2 {
				cs.length, cs.typ = u24(h[3:]), h[6]
			}
			if format == 0 {
				cs.msid = binary.LittleEndian.Uint32(h[7:]) // the one little-endian field (§5.3.1.2.1)
			}
			cs.ext = field == 0xffffff
		}
		if cs.ext { // §5.3.1.3; a type 3 chunk repeats its stream's extended timestamp
			e := c.hdr[:4]
			if err := c.full(e); err != nil {
				return rtmpMessage{}, err
			}
			if format < 3 {
				field = binary.BigEndian.Uint32(e)
			}
		}
		if start {
			switch format {
			case 0:
				cs.ts, cs.delta = field, field
			case 1, 2:
				cs.delta = field
				cs.ts += field
			case 3: // a new message with everything as the last one, delta too
				cs.ts += cs.delta
			}
			if cs.length > maxTag {
				return rtmpMessage{}, fmt.Errorf("a message of %d bytes (at most %d)", cs.length, maxTag)
			}
			cs.buf = make([]byte, 0, cs.length)
		}
		n := min(c.size, int(cs.length)-len(cs.buf))
		cs.buf = cs.buf[:len(cs.buf)+n]
		if err := c.full(cs.buf[len(cs.buf)-n:]); err != nil {
			return rtmpMessage{}, err
		}
		if len(cs.buf) == int(cs.length) {
			m := rtmpMessage{typ: cs.typ, ts: cs.ts, msid: cs.msid, body: cs.buf}
			cs.buf = nil
			return m, nil
		}
	}
}

// setChunkSize applies the server's Set Chunk Size (§5.4.1).
func (c *chunkReader) setChunkSize(body []byte) error {
	if len(body) < 4 {
		return fmt.Errorf("a Set Chunk Size of %d bytes", len(body))
	}
	n := binary.BigEndian.Uint32(body) & 0x7fffffff
	if n < 1 || n > maxPeerChunkSize {
		return fmt.Errorf("a chunk size of %d bytes", n)
	}
	c.size = int(n)
	return nil
}

func u24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }

// appendMessage appends msg as chunks of size bytes on chunk stream csid
// (2 to 63): a type 0 chunk, then type 3 chunks (§5.3.1.2.1, §5.3.1.2.4).
// Timestamps are the client's, always below the extended range.
func appendMessage(b []byte, csid byte, size int, msg rtmpMessage) []byte {
	b = append(b, csid&0x3f,
		byte(msg.ts>>16), byte(msg.ts>>8), byte(msg.ts),
		byte(len(msg.body)>>16), byte(len(msg.body)>>8), byte(len(msg.body)), msg.typ)
	b = binary.LittleEndian.AppendUint32(b, msg.msid)
	for i := 0; i < len(msg.body); i += size {
		if i > 0 {
			b = append(b, 0xc0|csid&0x3f)
		}
		b = append(b, msg.body[i:min(i+size, len(msg.body))]...)
	}
	return b
}
