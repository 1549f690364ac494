// Browser test: Chromium publishes its fake camera and microphone by WHIP
// with one video codec (VP8, H264, VP9, AV1) for SECONDS, and nobody
// watches. Meanwhile it polls /vod/ for the stream's recording, to time when
// it is listed while live. Usage:
//   node publish_only.mjs BASE_URL STREAM SECONDS CODEC
// Prints one JSON line: the codec sent, frames encoded, keyframes encoded,
// PLIs and FIRs received, and listedAfterMs (null if never listed live).
import { launch } from "./chromium.mjs";

const [base, stream, seconds, codec] = process.argv.slice(2);
if (!base || !stream || !seconds || !codec) {
  console.error("usage: node publish_only.mjs BASE_URL STREAM SECONDS CODEC");
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
  const result = await page.evaluate(async ({ stream, seconds, codec }) => {
    const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360, frameRate: 30 }, audio: true });
    const pc = new RTCPeerConnection();
    let video = null;
    for (const track of media.getTracks()) {
      const tr = pc.addTransceiver(track, { direction: "sendonly" });
      if (track.kind === "video") video = tr;
    }
    const wanted = RTCRtpSender.getCapabilities("video").codecs.filter((c) => c.mimeType.toLowerCase() === "video/" + codec.toLowerCase());
    if (wanted.length === 0) return { ok: false, error: "this Chromium cannot send " + codec };
    video.setCodecPreferences(wanted);
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
      setTimeout(resolve, 3000);
    });
    const res = await fetch("/whip/" + stream, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp });
    if (res.status !== 201) return { ok: false, error: "WHIP POST: " + res.status + " " + (await res.text()) };
    const resource = new URL(res.headers.get("Location"), location.href).href;
    await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });

    const start = performance.now();
    let listedAfterMs = null;
    while (performance.now() - start < seconds * 1000) {
      await new Promise((r) => setTimeout(r, 250));
      if (listedAfterMs !== null) continue;
      const list = await (await fetch("/vod/")).json();
      if ((list.recordings || []).some((r) => r.stream === stream && r.live)) listedAfterMs = Math.round(performance.now() - start);
    }
    let out = { ok: true, listedAfterMs, state: pc.connectionState };
    (await pc.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "video") {
        out.framesEncoded = s.framesEncoded;
        out.keyFramesEncoded = s.keyFramesEncoded;
        out.pliCount = s.pliCount;
        out.firCount = s.firCount;
        out.encoder = s.encoderImplementation;
      }
      if (s.type === "codec" && s.mimeType.startsWith("video/")) out.codec = s.mimeType;
    });
    await fetch(resource, { method: "DELETE" });
    pc.close();
    return out;
  }, { stream, seconds: Number(seconds), codec });
  await done(result.ok ? 0 : 1, result);
} catch (e) {
  await done(1, { ok: false, error: String(e && e.stack || e) });
}
