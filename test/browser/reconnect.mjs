// Browser test: Chromium publishes its fake camera by WHIP (H.264) for
// SECONDS, then reconnects as a WHIP client does: it ends its session
// (with HOW = delete: a DELETE, then closing the peer connection; with
// HOW = close: closing it only, as a reloaded page does) and publishes
// again on a new peer connection at once, retrying every 100 ms while the
// name is still held (409). Usage:
//   node reconnect.mjs BASE_URL STREAM SECONDS HOW
// Prints one JSON line with the wall-clock times (ms since the epoch) of
// the second POST's start and of its answer, the POSTs it took, and the
// second session's keyframes encoded and PLIs received after SECONDS more.
import { launch } from "./chromium.mjs";

const [base, stream, seconds, how] = process.argv.slice(2);
if (!base || !stream || !seconds || !["delete", "close"].includes(how)) {
  console.error("usage: node reconnect.mjs BASE_URL STREAM SECONDS delete|close");
  process.exit(2);
}
const { browser, close } = await launch();
const done = async (code, result) => {
  console.log(JSON.stringify(result));
  await close();
  process.exit(code);
};

try {
  const page = await browser.newPage();
  await page.goto(base + "/");
  const result = await page.evaluate(async ({ stream, seconds, how }) => {
    const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360, frameRate: 30 }, audio: true });
    const publish = async () => {
      const pc = new RTCPeerConnection();
      for (const track of media.getTracks()) {
        const tr = pc.addTransceiver(track, { direction: "sendonly" });
        if (track.kind === "video") {
          tr.setCodecPreferences(RTCRtpSender.getCapabilities("video").codecs.filter((c) => c.mimeType === "video/H264"));
        }
      }
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((resolve) => {
        if (pc.iceGatheringState === "complete") return resolve();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
        setTimeout(resolve, 3000);
      });
      const postAt = Date.now();
      let res, posts = 0;
      for (;;) {
        posts++;
        res = await fetch("/whip/" + stream, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp });
        if (res.status !== 409 || Date.now() - postAt > 10000) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      if (res.status !== 201) throw new Error("WHIP POST: " + res.status + " " + (await res.text()));
      const answeredAt = Date.now();
      const resource = new URL(res.headers.get("Location"), location.href).href;
      await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
      return { pc, resource, postAt, answeredAt, posts };
    };
    const first = await publish();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    // The reconnect: the old session ends, a new one starts at once.
    if (how === "delete") await fetch(first.resource, { method: "DELETE" });
    first.pc.close();
    const second = await publish();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const out = { ok: true, postAt: second.postAt, answeredAt: second.answeredAt, posts: second.posts, state: second.pc.connectionState };
    (await second.pc.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "video") {
        out.keyFramesEncoded = s.keyFramesEncoded;
        out.pliCount = s.pliCount;
      }
    });
    await fetch(second.resource, { method: "DELETE" });
    second.pc.close();
    return out;
  }, { stream, seconds: Number(seconds), how });
  await done(result.ok ? 0 : 1, result);
} catch (e) {
  await done(1, { ok: false, error: String(e && e.stack || e) });
}
