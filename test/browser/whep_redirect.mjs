// Browser test: viewers that POST to the origin are redirected (WHEP 307)
// to a relay and play there. The stream is published from relaymesh's page
// on the origin; then two viewers open the origin's page: relaymesh's own
// player (its fetch follows the 307), and medooze's whip-whep WHEPClient,
// a third-party player that trickles its candidates by PATCH to the
// session URL, which it resolves against the URL it first posted to (the
// origin): a redirected session's Location is absolute, on the relay.
// Usage: node whep_redirect.mjs ORIGIN_BASE STREAM RELAY_BASE
// Prints one JSON line: where each session is, the frames each decoded,
// the viewers the relay counts, and what the origin's page shows of them;
// exits non-zero when one fails.
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { launch } from "./chromium.mjs";

const [base, stream, relayBase] = process.argv.slice(2);
if (!base || !stream || !relayBase) {
  console.error("usage: node whep_redirect.mjs ORIGIN_BASE STREAM RELAY_BASE");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const { browser, close } = await launch(["--autoplay-policy=no-user-gesture-required"]);
const fail = async (msg, extra = {}) => {
  console.log(JSON.stringify({ ok: false, error: msg, ...extra }));
  await close();
  process.exit(1);
};
const waitFor = async (page, fn, ms, arg) => {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await page.evaluate(fn, arg);
    if (v) return v;
    if (Date.now() > deadline) return null;
    await page.waitForTimeout(200);
  }
};
const framesOf = (pcExpr) => `(async () => {
  let n = 0;
  (await ${pcExpr}.getStats()).forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") n = s.framesDecoded || 0; });
  return n;
})()`;

try {
  const pub = await browser.newPage();
  await pub.goto(base + "/");
  await pub.fill("#pub-name", stream);
  await pub.click("#pub-start");
  if (!(await waitFor(pub, () => /publisher connected/.test(document.getElementById("pub-status").textContent), 20000))) {
    await fail("publisher did not connect");
  }

  // relaymesh's own player, on the origin's page.
  const own = await browser.newPage();
  await own.goto(base + "/");
  await own.fill("#watch-name", stream);
  await own.click("#watch-start");
  if (!(await waitFor(own, () => /viewer connected/.test(document.getElementById("watch-status").textContent), 20000))) {
    await fail("relaymesh's player did not connect", { status: await own.textContent("#watch-status") });
  }
  const ownSession = await own.evaluate(() => viewer.location);
  const ownFrames = await waitFor(own, framesOf("viewer.pc"), 15000);

  // medooze's WHEPClient, served to the page from node_modules.
  const lib = await browser.newPage();
  await lib.route(base + "/lib/whep.js", (route) =>
    route.fulfill({ path: join(here, "node_modules/whip-whep/whep.js"), contentType: "text/javascript" }));
  await lib.goto(base + "/");
  const libSession = await lib.evaluate(async (url) => {
    const { WHEPClient } = await import("/lib/whep.js");
    const pc = new RTCPeerConnection();
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    window.libPC = pc;
    const whep = new WHEPClient();
    await whep.view(pc, url);
    window.libWHEP = whep;
    return whep.resourceURL.toString();
  }, base + "/whep/" + stream);
  const libFrames = await waitFor(lib, framesOf("window.libPC"), 15000);

  // The origin's page shows the viewers across the cluster: in the stream
  // list (none of them on the origin) and above the stream's tree.
  const pageView = await waitFor(own, (name) => {
    const row = [...document.querySelectorAll("#stream-rows tr")].find((tr) => tr.cells[0] && tr.cells[0].textContent === name);
    const tree = [...document.querySelectorAll("#topo-trees strong")].find((el) => el.textContent.startsWith(name + " "));
    const ok = row && row.cells[3].textContent === "2 (0 here)" && tree && tree.textContent.includes("2 viewers in the cluster");
    return ok ? { list: row.cells[3].textContent, tree: tree.textContent } : null;
  }, 15000, stream);

  const res = await fetch(relayBase + "/api/streams");
  const data = await res.json();
  const s = data.streams.find((x) => x.name === stream) || {};
  const relayViewers = (s.viewers_by_node || {})[data.node] || 0;
  const result = { ok: true, ownSession, ownFrames, libSession, libFrames, relayViewers, clusterViewers: s.cluster_viewers, pageView };
  if (!ownSession.startsWith(relayBase + "/")) await fail("relaymesh's player's session is not on the relay", result);
  if (!libSession.startsWith(relayBase + "/")) await fail("whip-whep's session is not on the relay", result);
  if (!ownFrames) await fail("relaymesh's player decoded no video", result);
  if (!libFrames) await fail("whip-whep's WHEPClient decoded no video", result);
  if (relayViewers !== 2) await fail("the relay does not serve both viewers", result);
  if (!pageView) await fail("the origin's page does not show 2 viewers in the cluster, none on the origin", result);
  await lib.evaluate(() => window.libWHEP.stop());
  console.log(JSON.stringify(result));
  await close();
} catch (e) {
  await fail(String(e && e.stack || e));
}
