// Minimal WHIP (RFC 9725) and WHEP clients. Both send a complete offer
// (candidates gathered, or after a short wait) and read the answer; the
// session URL from Location is what DELETE ends.
"use strict";

// A node that guards reading (-read-token, JWTs) is watched with the page
// opened as /?token=TOKEN: the token goes with WHEP, the API and VOD.
const pageToken = new URLSearchParams(location.search).get("token") || "";

function authHeaders(token) {
  return token ? { Authorization: "Bearer " + token } : {};
}

async function gatherOffer(pc) {
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  // Our server answers with all its candidates, so the client trickles
  // nothing: wait for gathering, but no longer than a second.
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    const t = setTimeout(resolve, 1000);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(t); resolve(); }
    });
  });
  return pc.localDescription.sdp;
}

// The token each session was opened with: its DELETE carries it too.
const sessionTokens = new Map();

async function exchange(url, pc, token) {
  const headers = { "Content-Type": "application/sdp" };
  if (token) headers["Authorization"] = "Bearer " + token;
  const res = await fetch(url, { method: "POST", headers, body: await gatherOffer(pc) });
  if (res.status !== 201) {
    throw new Error(res.status + " " + (await res.text()).trim());
  }
  // A WHEP POST may be redirected (307) to the node that serves this
  // viewer best: the session's URL is relative to where the answer came
  // from (res.url), not to where the offer was first sent.
  const location = new URL(res.headers.get("Location"), res.url || url).toString();
  await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
  sessionTokens.set(location, token);
  return location;
}

// The simulcast encodings the page sends (RFC 8853): RIDs l, m and h at a
// quarter, half and full resolution.
const simulcastEncodings = [
  { rid: "l", scaleResolutionDownBy: 4, maxBitrate: 150000 },
  { rid: "m", scaleResolutionDownBy: 2, maxBitrate: 500000 },
  { rid: "h", maxBitrate: 1500000 },
];

// publishWHIP sends stream's tracks, the video as simulcast layers if
// asked; returns { pc, location }.
async function publishWHIP(url, stream, token, simulcast) {
  const pc = new RTCPeerConnection();
  for (const track of stream.getTracks()) {
    const init = { direction: "sendonly", streams: [stream] };
    if (simulcast && track.kind === "video") init.sendEncodings = simulcastEncodings;
    pc.addTransceiver(track, init);
  }
  const location = await exchange(url, pc, token);
  return { pc, location };
}

// watchWHEP receives audio and video; returns { pc, location }.
async function watchWHEP(url, onTrack) {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  pc.ontrack = (ev) => onTrack(ev);
  const location = await exchange(url, pc, pageToken);
  return { pc, location };
}

async function endSession(location) {
  if (!location) return;
  const headers = authHeaders(sessionTokens.get(location));
  sessionTokens.delete(location);
  try { await fetch(location, { method: "DELETE", headers }); } catch (e) { /* gone already */ }
}
