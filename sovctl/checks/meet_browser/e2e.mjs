// Three people meet in Debian's headless chromium (fake camera and microphone), as on a
// working day: A (English) signs in through Keycloak's page and creates a restricted room;
// B (a browser set to French) signs in from the start page and opens the link; a guest
// opens it without an account, in a browser set to German. B and the guest wait in the
// lobby; A admits B and denies the guest. A and B see each other's video, hear each other,
// chat; B raises a hand and reacts; A mutes B, A shares a screen, A removes B (whose rejoin
// is refused). The guest asks again with camera and microphone off, is admitted and sees
// A's video; A ends the meeting for both.
// Prints one JSON object.
//
//   node e2e.mjs CONFIG.json
//   CONFIG: {chromium, meet_url, resolve: {name: address}, addresses: [ip],
//            users: [[user, password] x2], artifacts_dir, timeout_ms}
// The CA is trusted through the NSS database in $HOME/.pki/nssdb (the caller makes it):
// certificate errors are never ignored.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const timeout = cfg.timeout_ms || 90000;
const result = { requests: [], websockets: [], failed: [], console_errors: [], steps: [], screenshots: [] };
const step = (s) => result.steps.push(`${new Date().toISOString()} ${s}`);

// The deployment's services reached by address are left as they are (EXCLUDE ends the
// rules for them); its names map to their hosts; nothing else resolves.
const rules = (cfg.addresses || []).map((ip) => `EXCLUDE ${ip}`);
rules.push(...Object.entries(cfg.resolve).map(([name, ip]) => `MAP ${name} ${ip}`));
rules.push('MAP * ~NOTFOUND'); // no other name resolves: nothing can leave the deployment

// URLs are recorded without their query (login codes, access tokens stay out of the artifacts).
const bare = (url) => url.split(/[?#]/)[0];

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

const text = async (page, selector) => (await page.textContent(selector, { timeout }))?.trim();
const shot = async (page, name) => {
  const path = join(cfg.artifacts_dir, name);
  await page.screenshot({ path });
  result.screenshots.push(path);
};
const row = (name) => `.sovmeet-participants li[data-name="${name}"]`;

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
  const ctx = {
    A: await browser.newContext({ ...opts, locale: 'en-GB' }),
    B: await browser.newContext({ ...opts, locale: 'fr-FR' }),
    G: await browser.newContext({ ...opts, locale: 'de-DE' }),
  };
  const pages = {};
  for (const [who, c] of Object.entries(ctx)) {
    c.on('request', (r) => result.requests.push({ who, url: bare(r.url()), type: r.resourceType() }));
    c.on('requestfailed', (r) => result.failed.push({ who, url: bare(r.url()), error: r.failure()?.errorText }));
    const p = await c.newPage();
    p.on('websocket', (ws) => result.websockets.push({ who, url: bare(ws.url()) }));
    p.on('console', (m) => { if (m.type() === 'error') result.console_errors.push(`${who}: ${m.text()}`); });
    p.on('pageerror', (e) => result.console_errors.push(`${who}: ${e.message}`));
    p.on('dialog', (d) => d.accept());
    pages[who] = p;
  }
  const { A: a, B: b, G: g } = pages;

  step('A opens the app without a session');
  await a.goto(cfg.meet_url + '/', { timeout });
  result.a_login_page = bare(a.url());
  await login(a, cfg.users[0][0], cfg.users[0][1]);
  step('A is signed in');
  await a.fill('#new-title', 'Budget review');
  await a.selectOption('#new-access', 'restricted');
  await Promise.all([a.waitForURL(/\/r\/[a-z0-9-]+$/, { timeout }), a.click('#new-meeting')]);
  result.link = a.url();
  await a.click('#join');
  await a.waitForSelector('#room-link', { timeout });
  result.a_in_room = true;
  step(`A created and joined ${result.link}`);

  step('B (French) opens the start page without a session');
  await b.goto(cfg.meet_url + '/', { timeout });
  result.b_login_page = bare(b.url());
  await login(b, cfg.users[1][0], cfg.users[1][1]);
  result.b_after_login = b.url();
  result.french = { home: await text(b, '#new-meeting') };
  await b.goto(result.link, { timeout });
  await b.waitForSelector('#join', { timeout });
  result.french.prejoin = await text(b, '#join');
  await b.click('#join');
  await b.waitForSelector('[data-state="waiting"]', { timeout });
  result.french.lobby = await text(b, '[data-state="waiting"] h1');
  await b.evaluate(() => { window.sovmeetNoReload = true; });
  step('B waits in the lobby');

  step('the guest opens the link');
  await g.goto(result.link, { timeout });
  await g.fill('#display-name', 'Gwen');
  result.german = { prejoin: await text(g, '#join') };
  await g.click('#join');
  await g.waitForSelector('[data-state="waiting"]', { timeout });
  step('the guest waits in the lobby');

  await a.waitForFunction(() => document.querySelectorAll('.sovmeet-lobby li').length >= 2, null, { timeout: 30000 });
  result.lobby_seen_by_a = await a.$$eval('.sovmeet-lobby li', (els) => els.map((e) => ({
    name: e.dataset.name, kind: e.dataset.kind })));
  await shot(a, 'meet-lobby-a.png');
  await a.click('.sovmeet-lobby li[data-kind="member"] .sovmeet-admit');
  await a.click('.sovmeet-lobby li[data-kind="guest"] .sovmeet-deny');
  await g.waitForSelector('[data-state="denied"]', { timeout: 30000 });
  result.guest_denied = await text(g, '[data-state="denied"] h1');
  await b.waitForSelector('#room-link', { timeout });
  result.b_joined_without_reload = await b.evaluate(() => window.sovmeetNoReload === true);
  step('A admitted B and denied the guest');

  result.a_sees_b = await remoteVideo(a);
  step(`A sees B: ${result.a_sees_b.ok}`);
  result.b_sees_a = await remoteVideo(b);
  step(`B sees A: ${result.b_sees_a.ok}`);
  result.participants_a = await a.$$eval('.sovmeet-participants li', (els) => els.map((e) => e.dataset.name));
  result.french.room = { hand: await text(b, '#raise-hand'), chat: await text(b, '#tab-chat') };
  await shot(a, 'meet-user-a.png');
  await shot(b, 'meet-user-b.png');

  // Audio: B plays A's microphone (LiveKit's RoomAudioRenderer attaches remote audio).
  result.b_audio = await b.evaluate(() => [...document.querySelectorAll('audio')].map((el) => ({
    paused: el.paused, tracks: el.srcObject ? el.srcObject.getAudioTracks().length : 0 })));

  // Chat: A writes, B reads it in its chat panel.
  await a.click('#tab-chat');
  await a.fill('#chat-input', 'hello from A');
  await a.press('#chat-input', 'Enter');
  await b.click('#tab-chat');
  await b.locator('.sovmeet-chat-messages').getByText('hello from A').first().waitFor({ timeout: 30000 });
  result.chat_received = true;
  await a.click('#tab-people');
  await b.click('#tab-people');
  step('B received A\'s chat message');

  // B raises a hand and reacts; A sees both.
  await b.click('#raise-hand');
  await b.click('.sovmeet-reaction[data-emoji="👍"]');
  result.reaction_seen = await a.waitForSelector('.sovmeet-reactions li[data-emoji="👍"]', { timeout: 15000 })
    .then(async (el) => el.getAttribute('data-from')).catch((e) => `not seen: ${e.message.split('\n')[0]}`);
  result.hand_seen = await a.waitForFunction(() => {
    const first = document.querySelector('.sovmeet-participants li');
    return first && first.dataset.hand === 'raised' ? first.dataset.name : null;
  }, null, { timeout: 15000 }).then((h) => h.jsonValue()).catch(() => null);
  step(`A sees B's hand (${result.hand_seen}) and reaction (${result.reaction_seen})`);

  // A mutes B: A's list shows B's microphone track muted, and B's own toggle turns off.
  const bRow = row(result.hand_seen || 'Bob Durand');
  result.b_mic_before = await a.getAttribute(bRow, 'data-mic');
  await a.click(`${bRow} .sovmeet-mute-mic`);
  await a.waitForSelector(`${bRow}[data-mic="off"]`, { timeout: 15000 });
  result.mute_seen = true;
  result.b_toggle_after_mute = await b.getAttribute('.sovmeet-controls [data-lk-source="microphone"]', 'data-lk-enabled');
  step('A muted B');

  // Screen sharing: A shares (headless capture of its own tab), B receives a screen track.
  try {
    await a.click('.sovmeet-controls [data-lk-source="screen_share"]', { timeout: 10000 });
    await b.waitForFunction(() => [...document.querySelectorAll(
      '[data-lk-local-participant="false"][data-lk-source="screen_share"] video')]
      .some((v) => v.videoWidth > 0), null, { timeout: 30000 });
    result.screen_share = { ok: true };
    result.french.screen_tile = await text(b, '[data-lk-source="screen_share"] .sovmeet-tile-name');
    await shot(b, 'meet-screen-share-b.png');
    step('B sees A\'s shared screen');
  } catch (err) {
    result.screen_share = { ok: false, reason: String(err.message || err).split('\n')[0] };
    step(`screen sharing not verified: ${result.screen_share.reason}`);
  }

  // A removes B: B's page leaves the meeting; B's new attempt is refused.
  await a.click(`${bRow} .sovmeet-remove`);
  await b.waitForSelector('[data-state="removed"]', { timeout: 30000 });
  result.b_removed_page = await text(b, '[data-state="removed"] h1');
  await b.goto(result.link, { timeout });
  await b.click('#join');
  await b.waitForSelector('[data-state="removed"]', { timeout: 30000 });
  result.b_rejoin_refused = true;
  step('A removed B; B cannot rejoin');

  // The guest asks again, camera and microphone off in the pre-join screen; A admits.
  await g.goto(result.link, { timeout });
  await g.fill('#display-name', 'Gwen');
  await g.click('#prejoin-camera');
  await g.click('#prejoin-microphone');
  result.guest_toggles = {
    camera: await g.getAttribute('#prejoin-camera', 'aria-pressed'),
    microphone: await g.getAttribute('#prejoin-microphone', 'aria-pressed'),
  };
  await g.click('#join');
  await g.waitForSelector('[data-state="waiting"]', { timeout });
  result.german.lobby = await text(g, '[data-state="waiting"] h1');
  await a.click('.sovmeet-lobby li[data-kind="guest"] .sovmeet-admit', { timeout: 30000 });
  await g.waitForSelector('#room-link', { timeout });
  const gRow = row('Gwen');
  await a.waitForSelector(gRow, { timeout: 30000 });
  result.guest_in_room = { mic: await a.getAttribute(gRow, 'data-mic'),
    cam: await a.getAttribute(gRow, 'data-cam') };
  result.guest_sees_a = await remoteVideo(g);
  const tileNames = (page) => page.$$eval('.sovmeet-tile-name', (els) => els.map((e) => e.textContent));
  result.guest_tiles = { seen_by_a: await tileNames(a), seen_by_guest: await tileNames(g) };
  result.german.room = { hand: await text(g, '#raise-hand'), chat: await text(g, '#tab-chat') };
  step(`the guest joined with camera and microphone off (${JSON.stringify(result.guest_in_room)})`);

  await a.click('#end-meeting');
  await a.waitForSelector('[data-state="ended"]', { timeout: 30000 });
  await g.waitForSelector('[data-state="ended"]', { timeout: 30000 });
  result.german.ended = await text(g, '[data-state="ended"] h1');
  result.meeting_ended = true;
  step('A ended the meeting for everyone');

  // My rooms: A finds the room on the start page, renames it, then deletes it.
  await a.goto(cfg.meet_url + '/', { timeout });
  const roomName = new URL(result.link).pathname.split('/').pop();
  const mine = `.sovmeet-room-row[data-room="${roomName}"]`;
  result.my_rooms = { listed: await text(a, `${mine} .sovmeet-room-title`) };
  await a.click(`${mine} .sovmeet-rename`);
  await a.fill(`${mine} .sovmeet-title-input`, 'Budget 2027');
  await a.click(`${mine} button[type="submit"]`);
  await a.waitForFunction((sel) => document.querySelector(sel)?.textContent === 'Budget 2027',
    `${mine} .sovmeet-room-title`, { timeout: 15000 });
  result.my_rooms.renamed = await text(a, `${mine} .sovmeet-room-title`);
  await a.click(`${mine} .sovmeet-delete`);
  await a.waitForSelector(mine, { state: 'detached', timeout: 15000 });
  result.my_rooms.deleted = true;
  const gone = await a.goto(result.link, { timeout });
  result.my_rooms.link_after_delete = gone.status();
  step('A renamed and deleted the room from My rooms');
} catch (err) {
  result.error = String(err && err.stack ? err.stack : err);
  // What each person saw when it failed, for whoever reads the artifacts.
  for (const ctx of browser.contexts()) {
    for (const [i, p] of ctx.pages().entries()) {
      await p.screenshot({ path: join(cfg.artifacts_dir, `meet-failure-${browser.contexts().indexOf(ctx)}-${i}.png`) })
        .catch(() => {});
    }
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result) + '\n');
