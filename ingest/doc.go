// Package ingest holds the sources that produce fanout Tracks: WHIP
// publishers (ingest/whip) now; RTMP, RTSP and a relay's upstream link come
// in their own subpackages. A source owns one read goroutine per track and
// calls fanout.Track.Write from it, nothing else.
package ingest
