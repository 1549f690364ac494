// Browser test: one page publishes Chromium's fake camera and microphone by
// WHIP through relaymesh's web page, a second page watches by WHEP, and
// getStats on the viewer must show video frames decoded and audio packets
// received. Usage: node publish_watch.mjs BASE_URL STREAM [SCREENSHOT.png]
// With WATCH_BASE set, the second page watches there (a relay) instead.
// With WATCH_ONLY set, nothing is published: the stream comes from
// elsewhere (an RTMP or RTSP publisher), and its audio must not be silent.
// Prints one JSON line with the figures; exits non-zero when they fail.
import { launch } from "./chromium.mjs";

const [base, stream, screenshot] = process.argv.slice(2);
if (!base || !stream) {
  console.error("usage: node publish_watch.mjs BASE_URL STREAM [SCREENSHOT.png]");
  process.exit(2);
}
const { browser, close } = await launch(["--autoplay-policy=no-user-gesture-required"]);

const fail = async (msg, extra = {}) => {
  console.log(JSON.stringify({ ok: false, error: msg, ...extra }));
  await close();
  process.exit(1);
};

const waitText = async (page, sel, re, ms) => {
  const deadline = Date.now() + ms;
  for (;;) {
    const t = await page.textContent(sel);
    if (re.test(t)) return t;
    if (Date.now() > deadline) return null;
    await page.waitForTimeout(100);
  }
};

try {
  if (!process.env.WATCH_ONLY) {
    const pub = await browser.newPage();
    await pub.goto(base + "/");
    await pub.fill("#pub-name", stream);
    await pub.click("#pub-start");
    if (!(await waitText(pub, "#pub-status", /publisher connected/, 20000))) {
      await fail("publisher did not connect", { status: await pub.textContent("#pub-status") });
    }
  }

  const view = await browser.newPage();
  await view.goto((process.env.WATCH_BASE || base) + "/");
  await view.fill("#watch-name", stream);
  await view.click("#watch-start");
  if (!(await waitText(view, "#watch-status", /viewer connected/, 20000))) {
    await fail("viewer did not connect", { status: await view.textContent("#watch-status") });
  }

  const stats = async () => view.evaluate(async () => {
    const out = { video: null, audio: null };
    // `viewer` is app.js's session object (a global lexical binding).
    const report = await viewer.pc.getStats();
    report.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      const codec = s.codecId && report.get(s.codecId) ? report.get(s.codecId).mimeType : "";
      out[s.kind] = { framesDecoded: s.framesDecoded || 0, packetsReceived: s.packetsReceived, packetsLost: s.packetsLost, codec,
        totalAudioEnergy: s.totalAudioEnergy || 0, totalSamplesReceived: s.totalSamplesReceived || 0 };
    });
    out.videoWidth = document.getElementById("watch-video").videoWidth;
    return out;
  });

  let level = null;
  if (process.env.WATCH_ONLY) {
    // How loud the received audio is, measured by WebAudio on the played
    // stream (RMS over 1.5 s of analyser frames).
    level = await view.evaluate(async () => {
      const v = document.getElementById("watch-video");
      v.muted = false;
      await v.play().catch(() => {});
      const ctx = new AudioContext();
      await ctx.resume();
      const an = ctx.createAnalyser();
      an.fftSize = 2048;
      ctx.createMediaStreamSource(v.srcObject).connect(an);
      const buf = new Float32Array(an.fftSize);
      let peak = 0, sum = 0, n = 0;
      for (let i = 0; i < 30; i++) {
        await new Promise((r) => setTimeout(r, 50));
        an.getFloatTimeDomainData(buf);
        for (const x of buf) { peak = Math.max(peak, Math.abs(x)); sum += x * x; n++; }
      }
      return { peak, rms: Math.sqrt(sum / n) };
    });
  }
  await view.waitForTimeout(3000);
  const first = await stats();
  await view.waitForTimeout(2000);
  const second = await stats();
  if (screenshot) await view.screenshot({ path: screenshot });

  const result = { ok: true, first, second, level };
  if (process.env.WATCH_BASE) {
    // Through a relay, the tree picture must show the origin → relay edge.
    await view.waitForTimeout(2500);
    result.treeLines = await view.evaluate(() => document.querySelectorAll("#topo-trees svg line").length);
    if (result.treeLines < 1) await fail("the topology picture shows no edge", result);
  }
  if (!second.video || second.video.framesDecoded <= 0) await fail("no video frames decoded", result);
  if (second.video.framesDecoded <= first.video.framesDecoded) await fail("video frames stopped being decoded", result);
  if (!second.audio || second.audio.packetsReceived <= 0) await fail("no audio packets received", result);
  if (second.audio.packetsReceived <= first.audio.packetsReceived) await fail("audio packets stopped arriving", result);
  if (process.env.WATCH_ONLY && !(level && level.rms > 0.01)) await fail("the audio is silent", result);
  console.log(JSON.stringify(result));
  await close();
} catch (e) {
  await fail(String(e && e.stack || e));
}
