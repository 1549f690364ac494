package whep

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/relaymesh/relaymesh/fanout/egress"
	"github.com/relaymesh/relaymesh/internal/webrtchttp"
)

// layerRel is the relation type of the WHEP layer extension
// (draft-murillo-whep), which players use to choose a simulcast
// layer for a session already playing.
const layerRel = "urn:ietf:params:whep:ext:core:layer"

// layerRequest is the extension's POST body. mediaId names the media
// section; a session has one simulcast video, so it is not needed.
type layerRequest struct {
	MediaID    string `json:"mediaId"`
	EncodingID string `json:"encodingId"`
}

// layerHandler serves a session's layer extension for leg: POST
// {"encodingId": RID} pins the layer, DELETE goes back to automatic.
func layerHandler(leg *egress.Leg) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			leg.Unpin()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var req layerRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.EncodingID == "" {
			webrtchttp.WriteError(w, webrtchttp.Errorf(http.StatusBadRequest, `want a JSON body {"encodingId": "RID"} naming the layer (DELETE goes back to automatic)`))
			return
		}
		if err := leg.Pin(req.EncodingID); err != nil {
			webrtchttp.WriteError(w, webrtchttp.Errorf(http.StatusBadRequest, "%s", err.Error()))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
