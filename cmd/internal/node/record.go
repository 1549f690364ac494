package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/webrtchttp"
	"github.com/relaymesh/relaymesh/recorder"
	"github.com/relaymesh/relaymesh/vod"
)

// registerRecording adds /vod/ and the recording API when the node records.
func (n *Node) registerRecording(mux *http.ServeMux) {
	if n.rec == nil {
		off := func(w http.ResponseWriter, r *http.Request) {
			webrtchttp.WriteError(w, webrtchttp.Errorf(http.StatusNotFound, "this node does not record: start it with -record-dir"))
		}
		for _, pattern := range []string{"GET /vod/", "DELETE /vod/", "POST /api/record/{stream}", "DELETE /api/record/{stream}"} {
			mux.HandleFunc(pattern, off)
		}
		return
	}
	(&vod.Server{Rec: n.rec, Log: n.log}).Register(mux)
	mux.HandleFunc("POST /api/record/{stream}", n.startRecording)
	mux.HandleFunc("DELETE /api/record/{stream}", n.stopRecording)
}

// startRecording is POST /api/record/{stream}: record a stream this node
// carries, now and whenever it is published again, until DELETE.
func (n *Node) startRecording(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	if err := fanout.CheckName(stream); err != nil {
		writeError(w, err)
		return
	}
	if err := n.rec.Start(stream); errors.Is(err, recorder.ErrNotCarried) {
		webrtchttp.WriteError(w, webrtchttp.Errorf(http.StatusNotFound, "stream %q is not on this node: record it where it is published or watched", stream))
		return
	} else if err != nil {
		webrtchttp.WriteError(w, &webrtchttp.Error{Status: http.StatusInternalServerError, Message: err.Error()})
		return
	}
	id, _ := n.rec.Recording(stream)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{"stream": stream, "id": id, "status": fmt.Sprintf("recording stream %q on %s", stream, n.cfg.NodeID)})
}

// stopRecording is DELETE /api/record/{stream}.
func (n *Node) stopRecording(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	if err := fanout.CheckName(stream); err != nil {
		writeError(w, err)
		return
	}
	if !n.rec.Stop(stream) {
		webrtchttp.WriteError(w, webrtchttp.Errorf(http.StatusNotFound, "stream %q is not being recorded on this node", stream))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
