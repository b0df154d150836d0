// The browser flow in headless Chromium: the example backend (deploy/examples/browser-upload)
// signs a form through the service, the page posts the chosen file straight to the OSS emulator
// (cross-origin, allowed by the bucket's CORS rule), and shows OSS's answer and the completion
// event streamed over Server-Sent Events. Also: a file over the limit is refused by OSS and the
// page says so; a 203 CallbackFailed is shown as a failure. Screenshots are kept as artifacts in
// $OSSUP_ARTIFACTS_DIR (default build/test-artifacts).
// Usage: node browser_upload_test.js   (DATABASE_URL and NODE_PATH set by tests/run.sh)
'use strict';

const fs = require('fs');
const path = require('path');
const { loadOrSkip, requireDatabaseOrSkip, skipOrFail, tally } = require('../js/harness');
const { startStack, startProcess, stopProcess, postForm, ROOT } = require('../e2e/stack');

const { chromium } = loadOrSkip('playwright-core');
loadOrSkip('express');
requireDatabaseOrSkip();

const CHROMIUM = process.env.OSSUP_CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(CHROMIUM)) skipOrFail(`${CHROMIUM} not found (Debian package chromium)`);
const ARTIFACTS = process.env.OSSUP_ARTIFACTS_DIR
  || path.join(process.env.OSSUP_BUILD_DIR || path.join(ROOT, 'build'), 'test-artifacts');
const LIMIT = 1024 * 1024;
const t = tally('browser');
const check = t.check;

async function startApp(stack, token = stack.token) {
  const { child, ports } = await startProcess('browser-upload', process.execPath,
    [path.join(ROOT, 'deploy/examples/browser-upload/server.js')],
    { port: /browser-upload listening on http:\/\/127\.0\.0\.1:(\d+)\// }, stack.log,
    { ...process.env, PORT: '0', OSSUP_TARGET: stack.grpcTarget, OSSUP_TOKEN: token,
      OSSUP_NAMESPACE: 'acme', MAX_UPLOAD_BYTES: String(LIMIT) });
  return { child, url: `http://127.0.0.1:${ports.port}/` };
}

// An SSE stream of the example backend read as raw text, as a second client (another user, or
// the same one in another tab) would hold it.
function openSse(url, cookie, headers = {}) {
  const abort = new AbortController();
  const sse = { status: 0, text: '', ended: null, close: () => abort.abort() };
  sse.ended = (async () => {
    try {
      const res = await fetch(url, { headers: { Cookie: cookie, ...headers }, signal: abort.signal });
      sse.status = res.status;
      const decoder = new TextDecoder();
      for await (const chunk of res.body) sse.text += decoder.decode(chunk, { stream: true });
    } catch (err) { /* aborted */ }
  })();
  return sse;
}

async function until(predicate, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return predicate();
}

async function login(appUrl, user) {
  const res = await fetch(`${appUrl}api/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                                   body: JSON.stringify({ user }) });
  return (res.headers.get('set-cookie') || '').split(';')[0];
}

async function uploadFile(page, name, type, bytes) {
  await page.setInputFiles('#file', { name, mimeType: type, buffer: Buffer.alloc(bytes, 'p') });
  await page.click('#upload');
  // Wait for a final status: anything that is no longer "authorizing", "uploading" or "waiting".
  await page.waitForFunction(() => !/^(idle|authorizing|uploading|uploaded)/.test(
    document.getElementById('status').textContent), null, { timeout: 30000 });
  return {
    status: await page.textContent('#status'),
    callback: await page.textContent('#callback'),
    event: await page.textContent('#event'),
    detail: await page.textContent('#detail'),
    progress: await page.getAttribute('#progress', 'value').then(Number).catch(() => -1),
  };
}

(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  // The bucket CORS rule the example's README tells users to set, with the page's origin (its
  // port is chosen at start, hence the one wildcard OSS allows). The page's XHR has an upload
  // progress listener, which makes Chromium send a preflight OPTIONS that this rule must pass.
  const stack = await startStack({ cors: [{ allowed_origins: ['http://127.0.0.1:*'], allowed_methods: ['POST'],
    allowed_headers: ['*'], expose_headers: ['ETag', 'x-oss-request-id'], max_age_seconds: 600 }] });
  let app = null;
  let browser = null;
  let page = null;
  try {
    app = await startApp(stack);
    const anon = await fetch(`${app.url}api/uploads`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    check('the backend refuses to sign a form without a session', anon.status === 401, `HTTP ${anon.status}`);
    const cookie = await login(app.url, 'mallory');

    // A backend with a wrong token: its event stream says so once (fatal) instead of making every
    // browser retry each second forever.
    const misconfigured = await startApp(stack, 'not-the-token');
    try {
      const stream = openSse(`${misconfigured.url}api/events`, await login(misconfigured.url, 'eve'));
      await stream.ended;
      check('a misconfigured backend ends the event stream with a fatal event (no retry loop)',
        stream.status === 200 && /event: fatal/.test(stream.text) && !/event: failure/.test(stream.text), stream.text);
    } finally {
      await stopProcess(misconfigured.child);
    }
    const ask = (body) => fetch(`${app.url}api/uploads`, { method: 'POST', body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', Cookie: cookie } }).then((r) => r.status);
    const bad = [await ask({ fileName: 'x'.repeat(256) }), await ask({ fileName: { a: 1 } }),
                 await ask({ fileName: 'a.png', contentType: 'image/png\r\nX: y' })];
    check('the backend refuses oversize or malformed file names and types (400)', bad.every((st) => st === 400), bad.join(','));

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 900, height: 1100 } });
    const consoleErrors = [];
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    await page.goto(app.url);
    await page.click('#signin');
    await page.waitForSelector('#uploader:not([disabled])', { timeout: 10000 });

    // Another user's event stream, open while alice uploads: it must carry only mallory's events.
    const other = openSse(`${app.url}api/events`, cookie);
    await until(() => /event: ready/.test(other.text));
    check('the first SSE message pins the stream with an id (a reconnect resumes from it)',
      other.status === 200 && /^id: \d+\nevent: ready\n/m.test(other.text), other.text.slice(0, 300));

    let r = await uploadFile(page, 'photo.png', 'image/png', 200 * 1024);
    check('a picked file uploads straight to OSS and the page shows COMPLETED', r.status === 'COMPLETED', r.status);
    check('the page shows the callback JSON OSS relayed', /"upload_id"/.test(r.callback) && /"COMPLETED"/.test(r.callback), r.callback);
    check('the page shows the completion event from WatchUploads over SSE',
      /"type": "COMPLETED"/.test(r.event) && /users\/alice\/[^"]+\/photo\.png/.test(r.event) && /"size": "204800"/.test(r.event), r.event);
    check('upload progress reached 100 %', r.progress === 100, String(r.progress));
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-upload-completed.png'), fullPage: true });

    // mallory's own upload, after alice's: once its event is on mallory's stream, alice's (earlier
    // in the log) would have been too, had the backend leaked it.
    const created = await fetch(`${app.url}api/uploads`, { method: 'POST', body: JSON.stringify({ fileName: 'm.txt', contentType: 'text/plain' }),
      headers: { 'Content-Type': 'application/json', Cookie: cookie } }).then((res) => res.json());
    const posted = await postForm({ url: created.form.url, fields: created.form.fields,
      client_fields: created.form.clientFields, file_field: created.form.fileField }, Buffer.from('mallory'), 'text/plain');
    const ownSeen = await until(() => /users\/mallory\/[^"]+\/m\.txt/.test(other.text));
    check('a user\'s event stream carries that user\'s uploads and nobody else\'s',
      posted.status === 200 && ownSeen && !/users\/alice\//.test(other.text), other.text.slice(0, 2000));
    other.close();

    const tabs = [];
    for (let i = 0; i < 8; i++) tabs.push(openSse(`${app.url}api/events`, cookie));
    await until(() => tabs.every((tab) => /event: ready/.test(tab.text)));
    const ninth = openSse(`${app.url}api/events`, cookie);
    await ninth.ended;
    // A 200 that says so and ends: any other status would make EventSource give up silently.
    check('a user may hold 8 event streams; a 9th is told why in a fatal event, not a bare error status',
      ninth.status === 200 && /event: fatal\ndata: .*at most 8 live event streams/.test(ninth.text), `HTTP ${ninth.status} ${ninth.text}`);
    for (const tab of tabs) tab.close();
    await Promise.all(tabs.map((tab) => tab.ended));
    // The count goes down as streams close: a new one is accepted again.
    const again = openSse(`${app.url}api/events`, cookie);
    const reopened = await until(() => /event: ready/.test(again.text));
    again.close();
    check('closed streams are no longer counted', reopened, again.text);

    r = await uploadFile(page, 'too-big.bin', 'application/octet-stream', 2 * LIMIT);
    check('a file over the limit is refused by OSS and the page says so',
      r.status.startsWith('REFUSED by OSS') && r.status.includes(`larger than ${LIMIT} bytes`), r.status);
    check('the refusal is OSS\'s own EntityTooLarge answer', /EntityTooLarge/.test(r.callback), r.callback);
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-upload-refused.png'), fullPage: true });

    await fetch(`${stack.emulatorUrl}/_emulator/faults`, { method: 'POST', body: JSON.stringify({ callback: 'drop' }) });
    r = await uploadFile(page, 'lost.txt', 'text/plain', 1000);
    await fetch(`${stack.emulatorUrl}/_emulator/faults`, { method: 'POST', body: JSON.stringify({ callback: 'none' }) });
    check('a 203 CallbackFailed is shown as a failure, not a success',
      r.status.startsWith('FAILED: OSS stored the file but the callback failed'), r.status);

    r = await uploadFile(page, 'second.txt', 'text/plain', 3000);
    check('the same page uploads again after failures', r.status === 'COMPLETED', r.status);

    // The service restarts: the backend's WatchUploads breaks, its SSE response ends, and the
    // browser's EventSource reconnects with Last-Event-ID, from which the backend resumes.
    let whileDown = null;
    await stack.restartService({ sameGrpcPort: true, whileDown: async () => {
      // A new stream while the service is down: a 200 that reports the failure and ends, so the
      // browser's EventSource retries (any other status would end it for good).
      whileDown = openSse(`${app.url}api/events`, cookie);
      await whileDown.ended;
    } });
    check('with the service down, a new event stream is a 200 that says so and ends (EventSource retries)',
      whileDown && whileDown.status === 200 && /retry: \d+/.test(whileDown.text) && /event: failure/.test(whileDown.text)
      && !/upload service is unavailable.*(UNAVAILABLE|ECONNREFUSED)/.test(whileDown.text),
      whileDown && `HTTP ${whileDown.status} ${whileDown.text}`);
    r = await uploadFile(page, 'after-restart.txt', 'text/plain', 3000);
    check('after a service restart the event stream recovers (EventSource reconnects) and the page shows COMPLETED',
      r.status === 'COMPLETED' && /after-restart\.txt/.test(r.event), `${r.status} ${r.event.slice(0, 200)}`);
    check('no script errors on the page', consoleErrors.length === 0, consoleErrors.join('; '));
    console.log(`screenshots in ${ARTIFACTS}`);
  } catch (err) {
    t.fail(err.stack);
  } finally {
    if (t.failed > 0 && page) {
      // What the page showed when something went wrong, for whoever reads the CI log.
      const shot = path.join(ARTIFACTS, 'browser-upload-failure.png');
      await page.screenshot({ path: shot, fullPage: true }).then(() => console.log(`failure screenshot: ${shot}`), () => {});
    }
    if (browser) await browser.close();
    if (app) await stopProcess(app.child);
    await stack.stop();
  }
  t.finish();
})();
