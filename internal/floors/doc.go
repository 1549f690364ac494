// Package floors holds the test that keeps the module's imports pointing
// down (ARCHITECTURE.md, Layout). A package may import only packages on a
// lower floor; helpers under internal/ may also import each other.
//
//	5  cmd/...                      assemblies and mains
//	4  ingest/gateway, vod          assemblies of sources and sinks; serving recordings
//	3  ingest/whip, ingest/rtmp, ingest/rtsp, ingest/upstream,
//	   fanout/whep, recorder         the doors: sources, viewers, recorders
//	2  ingest, fanout/egress, ingest/transcode,
//	   topology, topology/control, topology/membership
//	                                the publish gate and WebRTC legs; tree and planes
//	1  fanout                       the hub
//	0  internal/...                 codec table, errors, WebRTC and HTTP plumbing, test helpers
package floors
