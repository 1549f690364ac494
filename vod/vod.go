// Package vod serves recordings over HTTP: a listing (JSON, or a page for
// browsers), each recording's metadata, the whole recording as one
// fragmented MP4 that a <video> element plays and seeks (Range requests),
// and an HLS playlist over the same segments.
//
//	GET    /vod/                          recordings, newest first
//	GET    /vod/{stream}/{id}             metadata
//	GET    /vod/{stream}/{id}.mp4         the whole recording
//	GET    /vod/{stream}/{id}.m3u8        HLS (fMP4 segments)
//	GET    /vod/{stream}/{id}.ivf         the video as IVF (VP8, VP9, AV1)
//	GET    /vod/{stream}/{id}.ogg         the audio as Ogg (Opus)
//	GET    /vod/{stream}/{id}/{file}      init.mp4 and segments, for HLS
//	DELETE /vod/{stream}/{id}             delete a finished recording
package vod

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/relaymesh/relaymesh/recorder"
)

// Server serves one recorder's recordings.
type Server struct {
	Rec *recorder.Recorder
	Log *slog.Logger
}

// Register adds the routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /vod/{$}", s.list)
	mux.HandleFunc("GET /vod/{stream}/{name}", s.get)
	mux.HandleFunc("DELETE /vod/{stream}/{id}", s.delete)
	mux.HandleFunc("GET /vod/{stream}/{id}/{file}", s.file)
}

// Recording is a recording as the API shows it: its index and its URLs.
type Recording struct {
	recorder.Meta
	URL string `json:"url"` // the whole recording, fragmented MP4
	HLS string `json:"hls"` // HLS VOD playlist
}

func withURLs(m recorder.Meta) Recording {
	base := "/vod/" + m.Stream + "/" + m.ID
	return Recording{Meta: m, URL: base + ".mp4", HLS: base + ".m3u8"}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	out := []Recording{}
	for _, m := range s.Rec.List() {
		out = append(out, withURLs(m))
	}
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		writePage(w, out)
		return
	}
	writeJSON(w, map[string]any{"recordings": out})
}

// get is GET /vod/{stream}/{name}: name is ID, ID.mp4, ID.m3u8, ID.ivf or
// ID.ogg.
func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	id, kind := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		id, kind = name[:i], name[i+1:]
	}
	m, dir, ok := s.lookup(w, r.PathValue("stream"), id)
	if !ok {
		return
	}
	switch kind {
	case "":
		writeJSON(w, withURLs(*m))
	case "mp4":
		s.serveWhole(w, r, m, dir)
	case "m3u8":
		servePlaylist(w, r, m, s.Rec.SegmentBound())
	case "ivf", "ogg":
		s.serveExport(w, m, dir, kind)
	default:
		httpError(w, http.StatusNotFound, fmt.Sprintf("no %q view of a recording: use %s, %s.mp4, %s.m3u8, %s.ivf or %s.ogg", kind, id, id, id, id, id))
	}
}

// lookup finds a recording or answers 400 (a name that cannot be one) or
// 404.
func (s *Server) lookup(w http.ResponseWriter, stream, id string) (*recorder.Meta, string, bool) {
	if !recorder.ValidStream(stream) {
		httpError(w, http.StatusBadRequest, "a stream name is 1 to 64 of A-Z a-z 0-9 _ -")
		return nil, "", false
	}
	if !recorder.ValidID(id) {
		httpError(w, http.StatusBadRequest, "a recording id looks like 20261122T130000Z (its UTC start time)")
		return nil, "", false
	}
	m, dir, err := s.Rec.Get(stream, id)
	if err != nil {
		httpError(w, http.StatusNotFound, fmt.Sprintf("no recording %s of stream %q on this node", id, stream))
		return nil, "", false
	}
	return m, dir, true
}

// file serves init.mp4 and the segments by name, for HLS players.
func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	_, dir, ok := s.lookup(w, r.PathValue("stream"), r.PathValue("id"))
	if !ok {
		return
	}
	f := r.PathValue("file")
	if f != recorder.InitName && !recorder.ValidSegment(f) {
		httpError(w, http.StatusBadRequest, "a recording holds init.mp4 and segments named like 00000001.m4s")
		return
	}
	fh, err := os.Open(filepath.Join(dir, f))
	if err != nil {
		httpError(w, http.StatusNotFound, fmt.Sprintf("%s is not in this recording (deleted, or not written yet)", f))
		return
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		httpError(w, http.StatusNotFound, f+" is unreadable")
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	http.ServeContent(w, r, f, st.ModTime(), fh)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	m, _, ok := s.lookup(w, r.PathValue("stream"), r.PathValue("id"))
	if !ok {
		return
	}
	err := s.Rec.Delete(m.Stream, m.ID)
	switch {
	case errors.Is(err, recorder.ErrLive):
		httpError(w, http.StatusConflict, "this recording is still being written; stop it first (DELETE /api/record/"+m.Stream+")")
	case err != nil:
		s.Log.Error("delete recording", "stream", m.Stream, "id", m.ID, "err", err)
		httpError(w, http.StatusInternalServerError, "the recording could not be deleted: "+err.Error())
	default:
		s.Log.Info("recording deleted", "stream", m.Stream, "id", m.ID)
		w.WriteHeader(http.StatusNoContent)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}
