// Browser test of VOD: Chromium plays a recording's whole-file MP4 in a
// <video> element; currentTime must advance, and a seek forward must land
// and play on (the file's segment index and Range requests at work).
// Usage: node play_vod.mjs MP4_URL
// Prints one JSON line with the figures; exits non-zero when they fail.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url] = process.argv.slice(2);
if (!url) {
  console.error("usage: node play_vod.mjs MP4_URL");
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), "relaymesh-chromium-"));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
});
let result = { ok: false };
try {
  const page = await browser.newPage();
  // The page is served from the recording's own origin, so the video is
  // same-origin; about:blank cannot play http: media in every build.
  await page.goto(new URL("/healthz", url).href);
  result = await page.evaluate(async (src) => {
    const v = document.createElement("video");
    v.muted = true;
    v.src = src;
    document.body.append(v);
    const until = (cond, ms) => new Promise((resolve, reject) => {
      const t0 = Date.now();
      const tick = () => {
        if (v.error) return reject(new Error("media error " + v.error.code + ": " + v.error.message));
        if (cond()) return resolve();
        if (Date.now() - t0 > ms) return reject(new Error("timeout at currentTime " + v.currentTime));
        setTimeout(tick, 50);
      };
      tick();
    });
    try {
      await v.play();
      await until(() => v.currentTime > 1.5, 15000);
      const duration = v.duration;
      const played = v.currentTime;
      v.currentTime = 6;
      await until(() => !v.seeking && v.currentTime >= 6, 10000);
      const landed = v.currentTime;
      await until(() => v.currentTime > landed + 1, 10000);
      return { ok: true, duration, played, landed, after: v.currentTime };
    } catch (e) {
      return { ok: false, error: String(e), currentTime: v.currentTime, readyState: v.readyState, duration: v.duration };
    }
  }, url);
} catch (e) {
  result = { ok: false, error: String(e) };
}
console.log(JSON.stringify(result));
await browser.close();
rmSync(profile, { recursive: true, force: true });
process.exit(result.ok ? 0 : 1);
