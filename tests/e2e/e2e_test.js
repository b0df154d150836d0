// End to end through the whole stack, driven by @grpc/grpc-js (a client in another language):
// CreateUpload -> POST the form to the emulator -> the emulator calls back -> the service verifies
// and records it -> WatchUploads streams the event; plus errors, idempotency, cancel, resume
// across a service restart, health and probes.
// Usage: node e2e_test.js   (DATABASE_URL and NODE_PATH set by tests/run.sh)
'use strict';

const { loadOrSkip, requireDatabaseOrSkip, tally } = require('../js/harness');

const grpc = loadOrSkip('@grpc/grpc-js');
const protoLoader = loadOrSkip('@grpc/proto-loader');
const path = require('path');
const { startStack, uploadClient, postForm, ROOT } = require('./stack');

requireDatabaseOrSkip();

const t = tally('e2e');
const check = t.check;

const call = (client, method, req, md) =>
  new Promise((resolve) => {
    client[method](req, md ?? client.md(), { deadline: Date.now() + 10000 }, (err, res) =>
      resolve({ err, res }));
  });

// Collects stream events until `pred(events)` holds or the timeout passes.
function watch(client, req, md) {
  const events = [];
  let error = null;
  const stream = client.WatchUploads(req, md ?? client.md());
  stream.on('data', (e) => events.push(e));
  stream.on('error', (e) => { error = e; });
  return {
    events,
    get error() { return error; },
    async until(pred, ms = 10000) {
      const end = Date.now() + ms;
      while (!pred(events) && !error && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      return pred(events);
    },
    cancel() { stream.cancel(); },
  };
}

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

async function main() {
  const stack = await startStack({ keep: process.env.OSSUP_KEEP_STACK === '1' });
  let client = uploadClient(grpc, protoLoader, stack.grpcTarget, stack.token);
  try {
    const parent = 'namespaces/acme';
    const live = watch(client, { parent, from_now: true });
    await new Promise((r) => setTimeout(r, 200));

    // 1. CreateUpload, idempotently.
    const create = {
      parent, subject: 'user-42',
      key_template: { prefix: 'avatars/', file_name: 'C:\\fakepath\\me.png' },
      constraints: { content_types: ['image/png'], min_size: 1, max_size: 1024 },
      metadata: { album: 'holiday' }, request_id: 'req-1',
    };
    const c1 = await call(client, 'CreateUpload', create);
    check('CreateUpload returns a PENDING upload and a form', !c1.err && c1.res.upload.state === 'PENDING'
          && c1.res.form.fields.length > 5, c1.err?.message);
    const upload = c1.res.upload;
    check('the generated key is safe and under the prefix', /^avatars\/[0-9a-f]{24}\/me\.png$/.test(upload.object_key), upload.object_key);
    const again = await call(client, 'CreateUpload', create);
    check('the same request_id and request return the same upload', !again.err && again.res.upload.name === upload.name);
    const clash = await call(client, 'CreateUpload', { ...create, subject: 'user-43' });
    check('the same request_id with another request is ALREADY_EXISTS', clash.err?.code === grpc.status.ALREADY_EXISTS, clash.err?.message);

    // 2. Errors carry canonical codes and name the field.
    const noToken = await call(client, 'CreateUpload', create, client.md(null));
    check('no token: UNAUTHENTICATED', noToken.err?.code === grpc.status.UNAUTHENTICATED);
    const badToken = await call(client, 'CreateUpload', create, client.md('x'.repeat(40)));
    check('unknown token: UNAUTHENTICATED', badToken.err?.code === grpc.status.UNAUTHENTICATED);
    const otherNs = await call(client, 'GetUpload', { name: upload.name.replace('acme', 'globex') });
    check('another namespace: PERMISSION_DENIED', otherNs.err?.code === grpc.status.PERMISSION_DENIED);
    const badSize = await call(client, 'CreateUpload', { ...create, request_id: '', constraints: { max_size: 0 } });
    check('bad input: INVALID_ARGUMENT naming the field', badSize.err?.code === grpc.status.INVALID_ARGUMENT
          && badSize.err.details.startsWith('constraints.max_size'), badSize.err?.details);
    const badTtl = await call(client, 'CreateUpload', { ...create, request_id: '', ttl: { seconds: 60, nanos: 2e9 } });
    check('a ttl outside the Duration range: INVALID_ARGUMENT', badTtl.err?.code === grpc.status.INVALID_ARGUMENT
          && badTtl.err.details.startsWith('ttl'), badTtl.err?.details);
    const badTime = await call(client, 'ListUploads', { parent: 'namespaces/acme', create_time_after: { seconds: '999999999999999' } });
    check('a timestamp past year 9999: INVALID_ARGUMENT', badTime.err?.code === grpc.status.INVALID_ARGUMENT
          && badTime.err.details.startsWith('create_time_after'), badTime.err?.details);
    const manyStates = await call(client, 'ListUploads', { parent: 'namespaces/acme', states: Array(17).fill('PENDING') });
    check('more than 16 states: INVALID_ARGUMENT', manyStates.err?.code === grpc.status.INVALID_ARGUMENT, manyStates.err?.details);

    // 3. The browser-side POST; OSS (the emulator) calls back; the service records it.
    const oversize = await postForm(c1.res.form, Buffer.alloc(2048, 1), 'image/png');
    check('OSS refuses a file over max_size', oversize.status === 400 && oversize.body.includes('EntityTooLarge'), oversize.status);
    const wrongType = await postForm(c1.res.form, PNG, 'text/html', {}, { 'Content-Type': 'text/html' });
    check('OSS refuses a content type the form does not allow', wrongType.status === 403, wrongType.status);
    const posted = await postForm(c1.res.form, PNG, 'image/png');
    let answer = {};
    try { answer = JSON.parse(posted.body); } catch (e) { /* checked below */ }
    check('the upload completes and OSS relays our callback answer', posted.status === 200
          && answer.state === 'COMPLETED' && answer.upload_id === upload.name.split('/').pop(),
          `${posted.status} ${posted.body}`);
    const got = await live.until((ev) => ev.some((e) => e.upload.name === upload.name));
    const event = live.events.find((e) => e.upload.name === upload.name);
    check('WatchUploads streams the COMPLETED event', got && event.type === 'COMPLETED'
          && event.upload.object.size === String(PNG.length), JSON.stringify(event ?? live.error));
    const get = await call(client, 'GetUpload', { name: upload.name });
    check('GetUpload shows COMPLETED with the object', get.res?.upload?.state === undefined
          && get.res.state === 'COMPLETED' && get.res.object.key === upload.object_key);
    const dup = await postForm(c1.res.form, PNG, 'image/png');
    check('a second upload under the same form is refused (no overwrite)', dup.status === 409, dup.status);

    // 4. Cancel, list, resume.
    const c2 = await call(client, 'CreateUpload', { ...create, request_id: 'req-2', subject: 'user-7' });
    const cancelled = await call(client, 'CancelUpload', { name: c2.res.upload.name });
    check('CancelUpload cancels a PENDING upload', cancelled.res?.state === 'CANCELLED', cancelled.err?.message);
    const again2 = await call(client, 'CancelUpload', { name: c2.res.upload.name });
    check('cancelling twice is FAILED_PRECONDITION', again2.err?.code === grpc.status.FAILED_PRECONDITION);
    const late = await postForm(c2.res.form, PNG, 'image/png');
    check('a callback after cancel is still recorded (late callback)', late.status === 200 && late.body.includes('CANCELLED'), late.body);
    await live.until((ev) => ev.length >= 3);
    check('events arrive in sequence order, once each', live.events.length === 3
          && live.events.map((e) => e.type).join(',') === 'COMPLETED,CANCELLED,LATE_CALLBACK'
          && live.events.every((e, i) => i === 0 || BigInt(e.sequence) > BigInt(live.events[i - 1].sequence)),
          live.events.map((e) => `${e.sequence}:${e.type}`).join(' '));
    live.cancel();

    const list = await call(client, 'ListUploads', { parent, page_size: 1 });
    check('ListUploads pages newest first', list.res?.uploads.length === 1
          && list.res.uploads[0].name === c2.res.upload.name && list.res.next_page_token !== '');
    const page2 = await call(client, 'ListUploads', { parent, page_size: 1, page_token: list.res.next_page_token });
    check('the next page continues', page2.res?.uploads[0]?.name === upload.name);
    const filtered = await call(client, 'ListUploads', { parent, states: ['COMPLETED'] });
    check('ListUploads filters by state', filtered.res?.uploads.length === 1);

    // Before the restart below, which starts the counters afresh.
    const groupText = await (await fetch(`${stack.httpUrl}/metrics`)).text();
    for (const writes of ['creates', 'callbacks']) {
      const m = groupText.match(new RegExp(`^ossup_group_commit_items_count\\{writes="${writes}"\\} (\\d+)$`, 'm'));
      check(`/metrics counts the group-commit transactions that wrote ${writes}`,
        m && Number(m[1]) > 0
          && groupText.includes(`ossup_group_commit_duration_seconds_bucket{writes="${writes}",le="+Inf"} ${m[1]}\n`),
        groupText.split('\n').filter((l) => l.includes('group_commit') && l.includes('_count')).join(' | '));
    }

    // 5. Resume after a service restart: nothing lost, nothing repeated.
    await stack.restartService();
    client = uploadClient(grpc, protoLoader, stack.grpcTarget, stack.token);
    const resumed = watch(client, { parent, after_sequence: live.events[0].sequence });
    await resumed.until((ev) => ev.length >= 2);
    check('a watch resumed after a restart gets exactly the later events',
          resumed.events.map((e) => e.type).join(',') === 'CANCELLED,LATE_CALLBACK',
          resumed.events.map((e) => e.type).join(','));
    resumed.cancel();
    const bySubject = watch(client, { parent, after_sequence: 0, subject: 'user-42' });
    await bySubject.until((ev) => ev.length >= 1, 3000);
    await new Promise((r) => setTimeout(r, 300));
    check('watch filters by subject', bySubject.events.length === 1 && bySubject.events[0].type === 'COMPLETED');
    bySubject.cancel();

    // 6. Health, probes, and the callback endpoint refusing forgeries.
    const healthDef = protoLoader.loadSync('grpc/health/v1/health.proto', { includeDirs: ['/usr/share/grpc-proto'], enums: String });
    const Health = grpc.loadPackageDefinition(healthDef).grpc.health.v1.Health;
    const health = new Health(stack.grpcTarget, grpc.credentials.createInsecure());
    const h = await new Promise((resolve) => health.Check({ service: 'ossup.upload.v1.UploadService' }, (err, res) => resolve(res?.status)));
    check('gRPC health is SERVING', h === 'SERVING', h);
    const ready = await fetch(`${stack.httpUrl}/readyz`);
    check('/readyz is 200 with the database up', ready.status === 200);
    const forged = await fetch(`${stack.httpUrl}/oss/callback`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: 'AAAA', 'x-oss-pub-key-url': 'AAAA' },
      body: JSON.stringify({ upload_id: upload.name.split('/').pop(), token: 'x' }),
    });
    check('a forged callback is refused', forged.status === 400 || forged.status === 403, forged.status);
    const metricsText = await (await fetch(`${stack.httpUrl}/metrics`)).text();
    check('/metrics shows no HeadObject waiting for OSS once the callbacks are answered',
      /^ossup_oss_head_requests_in_flight 0$/m.test(metricsText),
      metricsText.split('\n').filter((l) => l.includes('oss_head')).join(' | '));

    // 7. Token rotation without a restart: the callers file is re-read when it changes.
    const crypto = require('crypto');
    const fs = require('fs');
    const rotated = crypto.randomBytes(24).toString('hex');
    fs.writeFileSync(path.join(stack.dir, 'callers.json'), JSON.stringify({
      callers: [{ name: 'rotated', token_sha256: crypto.createHash('sha256').update(rotated).digest('hex'),
                  namespaces: ['acme'] }],
    }));
    let rotatedOk = false;
    for (let i = 0; i < 40 && !rotatedOk; i++) {
      await new Promise((r) => setTimeout(r, 250));
      rotatedOk = !(await call(client, 'ListUploads', { parent }, client.md(rotated))).err;
    }
    const old = await call(client, 'ListUploads', { parent });
    check('a rotated callers file takes effect without a restart', rotatedOk
          && old.err?.code === grpc.status.UNAUTHENTICATED, old.err?.message);
    client.close();
    health.close();
  } finally {
    await stack.stop();
  }
}

main()
  .catch((err) => t.fail(`unexpected error: ${err.stack}`))
  .finally(() => t.finish());
