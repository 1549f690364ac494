"use strict";

const $ = (id) => document.getElementById(id);
const base = location.origin;

// ---- publish ----
let pub = null;
$("pub-start").onclick = async () => {
  const name = $("pub-name").value;
  $("pub-status").textContent = "asking for camera…";
  try {
    const simulcast = $("pub-simulcast").checked;
    // Browsers send three simulcast layers only from 960x540 up.
    const video = simulcast ? { width: 1280, height: 720 } : true;
    const media = await navigator.mediaDevices.getUserMedia({ video, audio: true });
    $("pub-video").srcObject = media;
    pub = await publishWHIP(base + "/whip/" + encodeURIComponent(name), media, $("pub-token").value, simulcast);
    pub.media = media;
    $("pub-status").textContent = "connecting…";
    pub.pc.onconnectionstatechange = () => { $("pub-status").textContent = "publisher " + pub.pc.connectionState; };
    $("pub-start").disabled = true; $("pub-stop").disabled = false;
  } catch (e) {
    $("pub-status").textContent = "failed: " + e.message;
  }
};
$("pub-stop").onclick = async () => {
  if (!pub) return;
  await endSession(pub.location);
  pub.pc.close();
  pub.media.getTracks().forEach((t) => t.stop());
  pub = null;
  $("pub-status").textContent = "stopped";
  $("pub-start").disabled = false; $("pub-stop").disabled = true;
};

// ---- watch, with automatic reconnect ----
let watching = false, viewer = null, retry = null;
async function connectViewer() {
  const name = $("watch-name").value;
  const ms = new MediaStream();
  $("watch-video").srcObject = ms;
  try {
    const layer = $("watch-layer").value;
    const url = base + "/whep/" + encodeURIComponent(name) + (layer ? "?layer=" + layer : "");
    viewer = await watchWHEP(url, (ev) => ms.addTrack(ev.track));
    $("watch-status").textContent = "connecting…";
    viewer.pc.onconnectionstatechange = () => {
      const st = viewer.pc.connectionState;
      $("watch-status").textContent = "viewer " + st;
      if (st === "failed" || st === "closed" || st === "disconnected") scheduleReconnect();
    };
  } catch (e) {
    $("watch-status").textContent = "waiting for the stream (" + e.message + ")";
    scheduleReconnect();
  }
}
function scheduleReconnect() {
  if (!watching || retry) return;
  if (viewer) { endSession(viewer.location); viewer.pc.close(); viewer = null; }
  retry = setTimeout(() => { retry = null; if (watching) connectViewer(); }, 2000);
}
$("watch-start").onclick = () => {
  watching = true;
  $("watch-start").disabled = true; $("watch-stop").disabled = false;
  connectViewer();
};
$("watch-stop").onclick = () => {
  watching = false;
  clearTimeout(retry); retry = null;
  if (viewer) { endSession(viewer.location); viewer.pc.close(); viewer = null; }
  $("watch-status").textContent = "stopped";
  $("watch-start").disabled = false; $("watch-stop").disabled = true;
};

// ---- stream list ----
function fmtRate(bps) { return bps > 1e6 ? (bps / 1e6).toFixed(2) + " Mbit/s" : (bps / 1e3).toFixed(0) + " kbit/s"; }
async function refresh() {
  try {
    const res = await fetch(base + "/api/streams", { headers: authHeaders(pageToken) });
    const data = await res.json();
    $("node").textContent = data.role + " " + data.node;
    // Relays take no publishers: publish on an origin.
    $("publish").hidden = data.role === "relay";
    const rows = data.streams.map((s) => {
      const tr = document.createElement("tr");
      // A simulcast source's layers are one entry: "video VP8 (l, m, h)".
      const entries = [];
      for (const t of s.tracks) {
        const last = entries[entries.length - 1];
        if (t.layer && last && last.kind === t.kind && last.layers) { last.layers.push(t.layer); continue; }
        entries.push({ kind: t.kind, codec: t.codec, layers: t.layer ? [t.layer] : null });
      }
      const tracks = entries.map((e) => e.kind + " " + e.codec + (e.layers ? " (" + e.layers.join(", ") + ")" : "")).join(", ");
      // Viewers across the cluster, and how many of them this node serves.
      const here = (s.viewers_by_node || {})[data.node] || 0;
      const viewers = s.cluster_viewers === here ? String(here) : `${s.cluster_viewers} (${here} here)`;
      for (const v of [s.name, s.live ? "live" : "waiting for publisher", tracks, viewers, fmtRate(s.bitrate_bps)]) {
        const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
      }
      const td = document.createElement("td");
      const b = document.createElement("button"); b.textContent = "watch";
      b.onclick = () => { $("watch-name").value = s.name; $("watch-stop").onclick(); $("watch-start").onclick(); };
      td.appendChild(b); tr.appendChild(td);
      return tr;
    });
    const body = $("stream-rows");
    body.replaceChildren(...rows);
    if (!rows.length) body.innerHTML = '<tr><td colspan="6">none yet</td></tr>';
  } catch (e) { /* server restarting: try again next tick */ }
}
refresh();
setInterval(refresh, 2000);
