"use strict";

// Lists this node's recordings from GET /vod/ and plays one in a <video>
// element from its whole-file MP4 (seekable: the file carries a segment
// index and the server answers Range requests).
async function refreshRecordings() {
  const note = document.getElementById("rec-note");
  const rows = document.getElementById("rec-rows");
  try {
    const res = await fetch(location.origin + "/vod/", { headers: { Accept: "application/json", ...authHeaders(pageToken) } });
    if (res.status === 404) { note.textContent = "This node does not record (start it with -record-dir)."; rows.replaceChildren(); return; }
    const { recordings } = await res.json();
    note.textContent = recordings.length ? "" : "No recordings yet.";
    rows.replaceChildren(...recordings.map((r) => {
      const tr = document.createElement("tr");
      const cell = (text) => { const td = document.createElement("td"); td.textContent = text; tr.append(td); };
      cell(r.stream);
      cell(new Date(r.start).toLocaleString());
      cell(r.duration_s.toFixed(1) + " s" + (r.live ? " (recording)" : ""));
      cell(r.codecs.join(", "));
      const td = document.createElement("td");
      const play = document.createElement("button");
      play.textContent = "Play";
      // A <video> cannot send headers: the page's token goes on the URL.
      const withToken = (u) => pageToken ? u + (u.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(pageToken) : u;
      play.onclick = () => { const v = document.getElementById("rec-video"); v.hidden = false; v.src = withToken(r.url); v.play(); };
      const hls = document.createElement("a");
      hls.href = withToken(r.hls); hls.textContent = "HLS";
      td.append(play, " ", hls);
      tr.append(td);
      return tr;
    }));
  } catch (e) { /* node restarting: next tick */ }
}
refreshRecordings();
setInterval(refreshRecordings, 5000);
