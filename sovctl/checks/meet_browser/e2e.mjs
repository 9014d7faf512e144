// Two users meet in Debian's headless chromium (fake camera and microphone):
// A logs in through Keycloak's page and creates a room, B logs in and joins by the
// link, and each must see the other's video playing. Prints one JSON object.
//
//   node e2e.mjs CONFIG.json
//   CONFIG: {chromium, meet_url, resolve: {name: address}, users: [[user, password] x2],
//            artifacts_dir, timeout_ms}
// The CA is trusted through the NSS database in $HOME/.pki/nssdb (the caller makes it):
// certificate errors are never ignored.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const timeout = cfg.timeout_ms || 90000;
const result = { requests: [], websockets: [], failed: [], console_errors: [], steps: [] };
const step = (s) => result.steps.push(`${new Date().toISOString()} ${s}`);

// The deployment's services reached by address are left as they are (EXCLUDE ends the
// rules for them); its names map to their hosts; nothing else resolves.
const rules = (cfg.addresses || []).map((ip) => `EXCLUDE ${ip}`);
rules.push(...Object.entries(cfg.resolve).map(([name, ip]) => `MAP ${name} ${ip}`));
rules.push('MAP * ~NOTFOUND'); // no other name resolves: nothing can leave the deployment

// URLs are recorded without their query (login codes, access tokens stay out of the artifacts).
const bare = (url) => url.split(/[?#]/)[0];

function record(context, who) {
  context.on('request', (r) => result.requests.push({ who, url: bare(r.url()), type: r.resourceType() }));
  context.on('requestfailed', (r) => result.failed.push({ who, url: bare(r.url()), error: r.failure()?.errorText }));
}

async function login(page, user, password) {
  await page.waitForSelector('#username', { timeout });
  await page.fill('#username', user);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL((u) => u.hostname === new URL(cfg.meet_url).hostname, { timeout }),
    page.click('#kc-login')]);
}

// A remote participant's video, rendering: decoded size > 0 and time advancing.
async function remoteVideo(page) {
  const probe = () => {
    const vids = [...document.querySelectorAll('[data-lk-local-participant="false"] video')];
    return vids.map((v) => ({ w: v.videoWidth, h: v.videoHeight, t: v.currentTime,
      paused: v.paused, frames: v.getVideoPlaybackQuality?.().totalVideoFrames ?? null }));
  };
  const deadline = Date.now() + timeout;
  let last = [];
  while (Date.now() < deadline) {
    const first = await page.evaluate(probe);
    if (first.some((v) => v.w > 0)) {
      await page.waitForTimeout(1500);
      const second = await page.evaluate(probe);
      const i = second.findIndex((v, k) => v.w > 0 && first[k] && v.t > first[k].t);
      if (i >= 0) return { ok: true, before: first[i], after: second[i] };
      last = second;
    } else {
      last = first;
    }
    await page.waitForTimeout(1000);
  }
  return { ok: false, last };
}

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  headless: true,
  args: [
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    `--host-resolver-rules=${rules.join(', ')}`,
    '--no-proxy-server',
    '--disable-features=WebRtcHideLocalIpsWithMdns',
    // Screen sharing without a picker: headless chromium captures the requesting tab.
    '--auto-accept-this-tab-capture',
    '--auto-select-desktop-capture-source=Entire screen',
  ],
});
try {
  const opts = { viewport: { width: 1280, height: 720 }, permissions: ['camera', 'microphone'] };
  const ctxA = await browser.newContext(opts);
  const ctxB = await browser.newContext(opts);
  record(ctxA, 'A');
  record(ctxB, 'B');
  const a = await ctxA.newPage();
  const b = await ctxB.newPage();
  for (const [p, who] of [[a, 'A'], [b, 'B']]) {
    p.on('websocket', (ws) => result.websockets.push({ who, url: bare(ws.url()) }));
    p.on('console', (m) => { if (m.type() === 'error') result.console_errors.push(`${who}: ${m.text()}`); });
    p.on('pageerror', (e) => result.console_errors.push(`${who}: ${e.message}`));
  }

  step('A opens the app without a session');
  await a.goto(cfg.meet_url + '/', { timeout });
  result.a_login_page = bare(a.url());
  await login(a, cfg.users[0][0], cfg.users[0][1]);
  step('A is logged in');
  await a.waitForSelector('#new-meeting', { timeout });
  await Promise.all([a.waitForURL(/\/r\/[a-z0-9-]+$/, { timeout }), a.click('#new-meeting')]);
  await a.waitForSelector('#room-link', { timeout });
  result.link = await a.textContent('#room-link');
  step(`A created ${result.link}`);

  step('B opens the link without a session');
  await b.goto(result.link, { timeout });
  result.b_login_page = bare(b.url());
  await login(b, cfg.users[1][0], cfg.users[1][1]);
  result.b_after_login = b.url();
  step('B is logged in');

  result.a_sees_b = await remoteVideo(a);
  step(`A sees B: ${result.a_sees_b.ok}`);
  result.b_sees_a = await remoteVideo(b);
  step(`B sees A: ${result.b_sees_a.ok}`);
  result.participants_a = await a.$$eval('.sovmeet-participants li', (els) => els.map((e) => e.textContent));
  result.screenshots = [join(cfg.artifacts_dir, 'meet-user-a.png'), join(cfg.artifacts_dir, 'meet-user-b.png')];
  await a.screenshot({ path: result.screenshots[0] });
  await b.screenshot({ path: result.screenshots[1] });
  step('screenshots saved');

  // Audio: B plays A's microphone (LiveKit's RoomAudioRenderer attaches remote audio).
  result.b_audio = await b.evaluate(() => [...document.querySelectorAll('audio')].map((el) => ({
    paused: el.paused, tracks: el.srcObject ? el.srcObject.getAudioTracks().length : 0 })));

  // Chat: A writes, B reads it in its chat panel.
  await a.click('.lk-chat-toggle');
  await a.fill('.lk-chat-form-input', 'hello from A');
  await a.press('.lk-chat-form-input', 'Enter');
  await b.click('.lk-chat-toggle');
  await b.locator('.lk-chat-messages').getByText('hello from A').first().waitFor({ timeout: 30000 });
  result.chat_received = true;
  step('B received A\'s chat message');

  // Mute: A turns the microphone off, B's participant list shows A muted.
  await a.click('.lk-control-bar button[data-lk-source="microphone"]');
  await b.waitForFunction(() => [...document.querySelectorAll('.sovmeet-participants li')]
    .some((li) => !li.textContent.includes('(you)') && li.textContent.includes('muted')),
  null, { timeout: 30000 });
  result.mute_seen = true;
  step('B sees A muted');

  // Screen sharing: A shares (headless capture of its own tab), B receives a screen track.
  try {
    await a.click('.lk-control-bar button[data-lk-source="screen_share"]', { timeout: 10000 });
    await b.waitForFunction(() => [...document.querySelectorAll(
      '[data-lk-local-participant="false"][data-lk-source="screen_share"] video')]
      .some((v) => v.videoWidth > 0), null, { timeout: 30000 });
    result.screen_share = { ok: true };
    result.screenshots.push(join(cfg.artifacts_dir, 'meet-screen-share-b.png'));
    await b.screenshot({ path: result.screenshots[2] });
    step('B sees A\'s shared screen');
  } catch (err) {
    result.screen_share = { ok: false, reason: String(err.message || err).split('\n')[0] };
    step(`screen sharing not verified: ${result.screen_share.reason}`);
  }
} catch (err) {
  result.error = String(err && err.stack ? err.stack : err);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result) + '\n');
