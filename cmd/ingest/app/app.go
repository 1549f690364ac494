// Package app is bin/ingest: flags, the gateway loop, the progress line.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/ingest/gateway"
	"github.com/relaymesh/relaymesh/internal/config"
)

// Config is bin/ingest's settings.
type Config struct {
	ConfigFile  string
	Source      string
	Audio       string
	FPS         int
	WHIP        string
	Token       string
	Loopback    bool
	HTTP        string
	MaxBackoff  time.Duration
	OpusBitrate int
	LogFormat   string
	LogLevel    string
	CheckConfig bool
}

func (c *Config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.ConfigFile, "config", "", "YAML `file` with settings by flag name (flags > env > file > defaults)")
	fs.StringVar(&c.Source, "source", "", "what to pull: an rtsp://, rtsps:// or rtmp:// `URL` (credentials in the URL, an RTMP token in the stream name's query), or a video file played in a loop (.h264 Annex B, .ivf VP8/VP9/AV1)")
	fs.StringVar(&c.Audio, "audio", "", "with a video file: an audio `file` played alongside, Ogg Opus (.ogg, .opus) or AAC in ADTS (.aac, transcoded to Opus)")
	fs.IntVar(&c.FPS, "fps", 30, "with an .h264 file: its frame rate")
	fs.IntVar(&c.OpusBitrate, "opus-bitrate", 128000, "bit/s of the Opus audio that AAC (an RTMP source's, an .aac file's) is transcoded to")
	fs.StringVar(&c.WHIP, "whip", "", "the origin's WHIP endpoint `URL`, e.g. http://origin:8080/whip/cam1")
	fs.StringVar(&c.Token, "token", "", "publish `token` the origin asks for (-publish-token there)")
	fs.StringVar(&c.HTTP, "http", "", "serve /healthz and /readyz (ready while media flows) on this `address`; off when empty")
	fs.BoolVar(&c.Loopback, "loopback", false, "WebRTC over the loopback interface only (an origin on this machine)")
	fs.DurationVar(&c.MaxBackoff, "max-backoff", 10*time.Second, "longest wait between reconnects (the first is at once, then 250ms doubling)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&c.CheckConfig, "check-config", false, "validate the configuration and exit (0 when valid)")
}

// isFile: a -source without a URL scheme is a file path.
func (c *Config) isFile() bool { return c.Source != "" && !strings.Contains(c.Source, "://") }

// source builds the gateway's source.
func (c *Config) source(log *slog.Logger) gateway.Source {
	if c.isFile() {
		return gateway.FileSource{Video: c.Source, Audio: c.Audio, FPS: c.FPS, AudioBitrate: c.OpusBitrate}
	}
	if strings.HasPrefix(c.Source, "rtmp://") || strings.HasPrefix(c.Source, "rtmps://") {
		return gateway.RTMPSource{URL: c.Source, AudioBitrate: c.OpusBitrate, Log: log}
	}
	return gateway.RTSPSource{URL: c.Source}
}

func (c *Config) validate() error {
	var errs []error
	if c.isFile() {
		if ext := strings.ToLower(filepath.Ext(c.Source)); ext != ".h264" && ext != ".264" && ext != ".ivf" {
			errs = append(errs, fmt.Errorf("-source %q: a file must be .h264 (Annex B) or .ivf", c.Source))
		}
		if ext := strings.ToLower(filepath.Ext(c.Audio)); c.Audio != "" && ext != ".ogg" && ext != ".opus" && ext != ".aac" {
			errs = append(errs, fmt.Errorf("-audio %q: want an Ogg Opus file (.ogg, .opus) or ADTS AAC (.aac)", c.Audio))
		}
		if c.FPS < 1 || c.FPS > 240 {
			errs = append(errs, fmt.Errorf("-fps %d: want 1 to 240", c.FPS))
		}
	} else if u, err := url.Parse(c.Source); c.Source == "" || err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps" && u.Scheme != "rtmp" && u.Scheme != "rtmps") || u.Host == "" {
		errs = append(errs, fmt.Errorf("-source %q: want an rtsp://, rtsps://, rtmp:// or rtmps:// URL, or a video file", c.Source))
	} else if app, stream, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/"); strings.HasPrefix(u.Scheme, "rtmp") && (app == "" || stream == "") {
		errs = append(errs, fmt.Errorf("-source %q: an RTMP URL names the application and the stream: rtmp://HOST/APP/STREAM", c.Source))
	} else if c.Audio != "" {
		errs = append(errs, errors.New("-audio goes with a video file; an RTSP or RTMP source brings its own audio"))
	}
	if c.OpusBitrate < 6000 || c.OpusBitrate > 510000 {
		errs = append(errs, fmt.Errorf("-opus-bitrate %d: Opus takes 6000 to 510000 bit/s", c.OpusBitrate))
	}
	if u, err := url.Parse(c.WHIP); c.WHIP == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.Contains(u.Path, "/whip/") {
		errs = append(errs, fmt.Errorf("-whip %q: want the origin's WHIP URL, http(s)://HOST:PORT/whip/STREAM", c.WHIP))
	}
	if c.HTTP != "" {
		if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
			errs = append(errs, fmt.Errorf("-http %q: want host:port or :port", c.HTTP))
		}
	}
	if c.MaxBackoff < 250*time.Millisecond {
		errs = append(errs, fmt.Errorf("-max-backoff %s: want at least 250ms", c.MaxBackoff))
	}
	if err := config.CheckLog(c.LogFormat, c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Main runs bin/ingest and returns its exit code: 0 after a signal, 2 on
// a bad configuration.
func Main(args []string, stdout, stderr io.Writer) int {
	c := &Config{}
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ingest -source rtsp://...|rtmp://...|FILE -whip http://origin:8080/whip/NAME\n\nEvery flag can also be set as %sNAME or in the -config YAML file. Flags:\n\n", config.EnvPrefix)
		fs.PrintDefaults()
	}
	if err := config.Load(fs, args, os.LookupEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "ingest:", err)
		return 2
	}
	if err := c.validate(); err != nil {
		fmt.Fprintln(stderr, "ingest:", err)
		return 2
	}
	if c.CheckConfig {
		fmt.Fprintln(stdout, "ingest: configuration is valid")
		return 0
	}
	log := config.Logger(stderr, c.LogFormat, c.LogLevel)
	var se *webrtc.SettingEngine
	if c.Loopback {
		se = &webrtc.SettingEngine{}
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetIncludeLoopbackCandidate(true)
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	} else {
		se = &webrtc.SettingEngine{}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st := &gateway.Stats{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); progress(ctx, stderr, log, st) }()
	if c.HTTP != "" {
		stopHealth, err := serveHealth(c.HTTP, st)
		if err != nil {
			log.Error("health endpoint", "err", err)
			return 1
		}
		defer stopHealth()
	}
	err := gateway.Run(ctx, gateway.Params{Source: c.source(log), WHIP: c.WHIP, Token: c.Token,
		Settings: se, Log: log, MaxBackoff: c.MaxBackoff}, st)
	stop()
	wg.Wait()
	if err != nil {
		log.Error("ingest stopped", "err", err)
		return 1
	}
	return 0
}

// progress shows uptime, bitrate and reconnects: a line rewritten every
// second on a terminal, a log line every 30 s otherwise.
func progress(ctx context.Context, w io.Writer, log *slog.Logger, st *gateway.Stats) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	every := 30 * time.Second
	if tty {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(w)
			}
			return
		case <-t.C:
		}
		b := st.Bytes.Load()
		rate := float64(b-last) * 8 / every.Seconds() / 1e6
		last = b
		state := "connecting"
		if st.Connected.Load() {
			state = "live"
		}
		up := time.Since(st.Started).Round(time.Second)
		if tty {
			fmt.Fprintf(w, "\r%-10s up %-9s %6.2f Mbit/s  reconnects %d   ", state, up, rate, st.Reconnects.Load())
		} else {
			log.Info("progress", "state", state, "uptime", up, "mbit_s", fmt.Sprintf("%.2f", rate), "reconnects", st.Reconnects.Load())
		}
	}
}

// serveHealth answers Kubernetes' probes: /healthz while the process
// runs, /readyz while media flows to the origin.
func serveHealth(addr string, st *gateway.Stats) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !st.Connected.Load() {
			http.Error(w, "not publishing yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	return func() { _ = srv.Close(); <-done }, nil
}
