// Browser test: Chromium publishes simulcast from relaymesh's page (the
// Simulcast box: RIDs l, m and h at a quarter, half and full 1280x720),
// and two other pages watch: one automatic (its layer follows its
// bandwidth estimate, which starts low and climbs on loopback) and one
// pinned to the low layer. Both decode; the frame sizes come from
// Chromium's own statistics. Usage: node simulcast.mjs BASE_URL STREAM
// Prints one JSON line; exits non-zero when a check fails.
import { launch } from "./chromium.mjs";

const [base, stream] = process.argv.slice(2);
if (!base || !stream) {
  console.error("usage: node simulcast.mjs BASE_URL STREAM");
  process.exit(2);
}
const { browser, close } = await launch(["--autoplay-policy=no-user-gesture-required"]);
const fail = async (msg, extra = {}) => {
  console.log(JSON.stringify({ ok: false, error: msg, ...extra }));
  await close();
  process.exit(1);
};
const until = async (fn, ms) => {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, 250));
  }
};
const videoStats = (page) => page.evaluate(async () => {
  let out = null;
  (await viewer.pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") {
      out = { framesDecoded: s.framesDecoded || 0, width: s.frameWidth || 0, height: s.frameHeight || 0 };
    }
  });
  return out;
});

try {
  const pub = await browser.newPage();
  await pub.goto(base + "/");
  await pub.fill("#pub-name", stream);
  await pub.check("#pub-simulcast");
  await pub.click("#pub-start");
  const layers = await until(async () => {
    const res = await fetch(base + "/api/streams");
    const s = (await res.json()).streams.find((x) => x.name === stream);
    const l = s ? s.tracks.filter((t) => t.layer && t.packets_in > 0).map((t) => t.layer) : [];
    return l.length === 3 ? l : null;
  }, 20000);
  if (!layers) await fail("the origin did not get three layers with packets");
  // The page's stream list shows the layers as one video entry.
  const listed = await until(async () => {
    const rows = await pub.$$eval("#stream-rows tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    const row = rows.find((r) => r[0] === stream);
    return row && /video \S+ \(l, m, h\)/.test(row[2]) ? row[2] : null;
  }, 10000);
  if (!listed) await fail("the page's stream list does not show the video's three layers");

  const watch = async (layer) => {
    const page = await browser.newPage();
    await page.goto(base + "/");
    await page.fill("#watch-name", stream);
    await page.selectOption("#watch-layer", layer);
    await page.click("#watch-start");
    if (!(await until(async () => /viewer connected/.test(await page.textContent("#watch-status")), 20000))) {
      await fail("a viewer (layer " + (layer || "auto") + ") did not connect");
    }
    return page;
  };
  const low = await watch("l");
  const auto = await watch("");
  const lowStats = await until(async () => { const s = await videoStats(low); return s && s.framesDecoded > 30 ? s : null; }, 20000);
  if (!lowStats) await fail("the low-layer viewer decoded nothing");
  // The automatic viewer climbs to a picture larger than the low layer's.
  const autoStats = await until(async () => {
    const s = await videoStats(auto);
    return s && s.framesDecoded > 30 && s.width >= 2 * lowStats.width ? s : null;
  }, 40000);
  const result = { ok: true, layers, listed, low: lowStats, auto: autoStats || (await videoStats(auto)) };
  if (!autoStats) await fail("the automatic viewer never got a picture twice the low layer's width", result);
  // Still decoding: both go on.
  await auto.waitForTimeout(2000);
  const lowLater = await videoStats(low), autoLater = await videoStats(auto);
  result.lowLater = lowLater; result.autoLater = autoLater;
  if (lowLater.framesDecoded <= lowStats.framesDecoded || autoLater.framesDecoded <= autoStats.framesDecoded) {
    await fail("a viewer stopped decoding", result);
  }
  if (lowLater.width > 400) await fail("the low-layer viewer got a large picture", result);
  console.log(JSON.stringify(result));
  await close();
} catch (e) {
  await fail(String(e && e.stack || e));
}
