//go:build transcode && cgo

package transcode

/*
#cgo pkg-config: libavcodec libswresample libavutil opus
#include <stdlib.h>
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libswresample/swresample.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <opus/opus.h>

// rm_aac decodes AAC, resamples to 48 kHz interleaved stereo s16 and
// encodes 20 ms Opus packets.
typedef struct {
	AVCodecContext *dec;
	AVPacket *pkt;
	AVFrame *frame;
	SwrContext *swr;
	OpusEncoder *enc;
	int16_t *pcm;   // buffered 48 kHz stereo samples
	int pcm_len;    // in samples per channel
	int pcm_cap;
} rm_aac;

static void rm_aac_free(rm_aac *t) {
	if (!t) return;
	avcodec_free_context(&t->dec);
	av_packet_free(&t->pkt);
	av_frame_free(&t->frame);
	swr_free(&t->swr);
	if (t->enc) opus_encoder_destroy(t->enc);
	free(t->pcm);
	free(t);
}

static rm_aac *rm_aac_new(const uint8_t *asc, int asc_len, int bitrate, char *err, int errlen) {
	rm_aac *t = calloc(1, sizeof(rm_aac));
	const AVCodec *c = avcodec_find_decoder(AV_CODEC_ID_AAC);
	if (!c) { snprintf(err, errlen, "FFmpeg has no AAC decoder"); free(t); return NULL; }
	t->dec = avcodec_alloc_context3(c);
	t->dec->extradata = av_mallocz(asc_len + AV_INPUT_BUFFER_PADDING_SIZE);
	memcpy(t->dec->extradata, asc, asc_len);
	t->dec->extradata_size = asc_len;
	int r = avcodec_open2(t->dec, c, NULL);
	if (r < 0) { snprintf(err, errlen, "the AAC configuration is not usable (%d)", r); rm_aac_free(t); return NULL; }
	t->pkt = av_packet_alloc();
	t->frame = av_frame_alloc();
	int oerr = 0;
	t->enc = opus_encoder_create(48000, 2, OPUS_APPLICATION_AUDIO, &oerr);
	if (oerr != OPUS_OK) { snprintf(err, errlen, "opus_encoder_create: %s", opus_strerror(oerr)); t->enc = NULL; rm_aac_free(t); return NULL; }
	opus_encoder_ctl(t->enc, OPUS_SET_BITRATE(bitrate));
	t->pcm_cap = 48000 * 2;
	t->pcm = malloc(sizeof(int16_t) * 2 * t->pcm_cap);
	return t;
}

// rm_aac_push decodes one access unit into the PCM buffer. 0 or an
// FFmpeg error.
static int rm_aac_push(rm_aac *t, const uint8_t *data, int len) {
	t->pkt->data = (uint8_t *)data;
	t->pkt->size = len;
	int r = avcodec_send_packet(t->dec, t->pkt);
	if (r < 0) return r;
	for (;;) {
		r = avcodec_receive_frame(t->dec, t->frame);
		if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
		if (r < 0) return r;
		if (!t->swr) {
			AVChannelLayout stereo = AV_CHANNEL_LAYOUT_STEREO;
			r = swr_alloc_set_opts2(&t->swr, &stereo, AV_SAMPLE_FMT_S16, 48000,
				&t->frame->ch_layout, t->frame->format, t->frame->sample_rate, 0, NULL);
			if (r < 0 || swr_init(t->swr) < 0) return r < 0 ? r : AVERROR(EINVAL);
		}
		int room = t->pcm_cap - t->pcm_len;
		int n = swr_convert(t->swr, (uint8_t **)&(int16_t *){t->pcm + 2 * t->pcm_len}, room,
			(const uint8_t **)t->frame->extended_data, t->frame->nb_samples);
		if (n < 0) return n;
		t->pcm_len += n;
		av_frame_unref(t->frame);
	}
}

// rm_aac_encode encodes one 20 ms packet when enough PCM is buffered:
// its size, 0 when not enough, or a negative libopus error.
static int rm_aac_encode(rm_aac *t, uint8_t *out, int cap) {
	if (t->pcm_len < 960) return 0;
	int n = opus_encode(t->enc, t->pcm, 960, out, cap);
	if (n < 0) return n;
	t->pcm_len -= 960;
	memmove(t->pcm, t->pcm + 2 * 960, sizeof(int16_t) * 2 * t->pcm_len);
	return n;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

const available = true

type cgoTranscoder struct {
	t   *C.rm_aac
	out []byte
}

// New makes a transcoder for the AAC configuration in p.
func New(p Params) (AACToOpus, error) {
	if len(p.Config) < 2 {
		return nil, fmt.Errorf("AAC configuration of %d bytes: want an AudioSpecificConfig", len(p.Config))
	}
	if p.Bitrate <= 0 {
		p.Bitrate = 128000
	}
	var errbuf [256]C.char
	cfg := C.CBytes(p.Config)
	defer C.free(cfg)
	t := C.rm_aac_new((*C.uint8_t)(cfg), C.int(len(p.Config)), C.int(p.Bitrate), &errbuf[0], C.int(len(errbuf)))
	if t == nil {
		return nil, fmt.Errorf("AAC to Opus: %s", C.GoString(&errbuf[0]))
	}
	return &cgoTranscoder{t: t, out: make([]byte, 4000)}, nil
}

func (c *cgoTranscoder) Push(au []byte) ([][]byte, error) {
	if len(au) == 0 {
		return nil, nil
	}
	data := C.CBytes(au)
	r := C.rm_aac_push(c.t, (*C.uint8_t)(data), C.int(len(au)))
	C.free(data)
	if r < 0 {
		return nil, fmt.Errorf("AAC decode: error %d", int(r))
	}
	var out [][]byte
	for {
		n := C.rm_aac_encode(c.t, (*C.uint8_t)(unsafe.Pointer(&c.out[0])), C.int(len(c.out)))
		if n < 0 {
			return out, fmt.Errorf("opus encode: error %d", int(n))
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, append([]byte(nil), c.out[:n]...))
	}
}

func (c *cgoTranscoder) Close() {
	C.rm_aac_free(c.t)
	c.t = nil
}
