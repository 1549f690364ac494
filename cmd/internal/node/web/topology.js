"use strict";

// Draws each stream's repeater tree from GET /api/topology: the origin at
// the top, one row per depth, a line from every parent to its children.
const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function drawTree(stream, nodesById) {
  const kids = {};
  for (const e of stream.edges) (kids[e.parent] = kids[e.parent] || []).push(e.child);
  const rows = [[stream.origin]];
  const seen = new Set([stream.origin]);
  for (;;) {
    const next = [];
    for (const id of rows[rows.length - 1]) {
      for (const c of (kids[id] || []).sort()) if (!seen.has(c)) { seen.add(c); next.push(c); }
    }
    if (!next.length) break;
    rows.push(next);
  }
  const width = 720, rowH = 70, height = rows.length * rowH + 20;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "tree of " + stream.name });
  const pos = {};
  rows.forEach((row, depth) => row.forEach((id, i) => {
    pos[id] = { x: (width * (i + 1)) / (row.length + 1), y: 30 + depth * rowH };
  }));
  for (const e of stream.edges) {
    if (pos[e.parent] && pos[e.child]) {
      svg.appendChild(el("line", { x1: pos[e.parent].x, y1: pos[e.parent].y, x2: pos[e.child].x, y2: pos[e.child].y }));
    }
  }
  for (const [id, p] of Object.entries(pos)) {
    const n = nodesById[id] || {};
    svg.appendChild(el("circle", { cx: p.x, cy: p.y, r: 9, class: id === stream.origin ? "origin" : "relay" }));
    const load = n.load !== undefined ? ` ${Math.round(n.load * 100)}%` : "";
    // This stream's viewers on the node (all streams' in brackets).
    const here = (stream.viewers || {})[id] || 0;
    const viewers = here || n.viewers ? ` · ${here} viewer${here === 1 ? "" : "s"}` + (n.viewers && n.viewers !== here ? ` (${n.viewers} in all)` : "") : "";
    svg.appendChild(el("text", { x: p.x + 14, y: p.y + 4 }, id + (n.zone ? ` (${n.zone})` : "") + load + viewers));
  }
  const box = document.createElement("div");
  box.className = "tree";
  const title = document.createElement("strong");
  const total = Object.values(stream.viewers || {}).reduce((a, b) => a + b, 0);
  title.textContent = `${stream.name} · ${total} viewer${total === 1 ? "" : "s"} in the cluster`;
  box.append(title, svg);
  return box;
}

async function refreshTopology() {
  try {
    const res = await fetch(location.origin + "/api/topology", { headers: authHeaders(pageToken) });
    const topo = await res.json();
    const byId = {};
    for (const n of topo.nodes) byId[n.id] = n;
    document.getElementById("topo-nodes").textContent = topo.nodes.length
      ? "nodes: " + topo.nodes.map((n) => `${n.id} (${n.role}, ${n.zone}${n.draining ? ", draining" : ""})`).join(", ")
      : "no cluster information yet";
    document.getElementById("topo-trees").replaceChildren(...topo.streams.map((s) => drawTree(s, byId)));
  } catch (e) { /* node restarting: next tick */ }
}
refreshTopology();
setInterval(refreshTopology, 2000);
