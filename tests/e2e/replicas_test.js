// Two service replicas on one database, with form-encoded callbacks: a callback recorded by one
// replica reaches a subscriber on the other; 1,000 uploads completed concurrently across both
// reach a live subscriber and a subscriber that disconnects and resumes on the other replica,
// each event exactly once and in sequence order.
// Usage: node replicas_test.js   (DATABASE_URL and NODE_PATH set by tests/run.sh)
'use strict';

const { loadOrSkip, requireDatabaseOrSkip, tally } = require('../js/harness');

const grpc = loadOrSkip('@grpc/grpc-js');
const protoLoader = loadOrSkip('@grpc/proto-loader');
const { startStack, uploadClient, postForm } = require('./stack');

requireDatabaseOrSkip();

const UPLOADS = Number(process.env.OSSUP_REPLICA_UPLOADS || 1000);
const t = tally('replicas');
const check = t.check;

function createUpload(client, i) {
  return new Promise((resolve, reject) => client.CreateUpload({
    parent: 'namespaces/acme', subject: `user-${i % 7}`,
    object_key: `replicas/${i}.txt`,
    constraints: { content_types: ['text/plain'], min_size: 1, max_size: 4096 },
  }, client.md(), { deadline: Date.now() + 20000 }, (err, res) => (err ? reject(err) : resolve(res))));
}

function watch(client, req) {
  const events = [];
  let error = null;
  const stream = client.WatchUploads(req, client.md());
  stream.on('data', (e) => events.push(e));
  stream.on('error', (e) => { error = e; });
  return {
    events,
    get error() { return error; },
    async until(pred, ms) {
      const end = Date.now() + ms;
      while (!pred(events) && !error && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
      return pred(events);
    },
    cancel() { stream.cancel(); },
  };
}

// Runs `fn` over items with at most `limit` in flight.
async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  }));
  return results;
}

const inOrderOnce = (events) => events.every((e, i) => i === 0 || BigInt(e.sequence) === BigInt(events[i - 1].sequence) + 1n);

async function main() {
  const stack = await startStack({ replicas: 2, callbackBodyType: 'form' });
  const a = uploadClient(grpc, protoLoader, stack.services[0].grpcTarget, stack.token);
  const b = uploadClient(grpc, protoLoader, stack.services[1].grpcTarget, stack.token);
  try {
    // 1. Recorded on replica A, streamed by replica B.
    const onB = watch(b, { parent: 'namespaces/acme', from_now: true });
    await new Promise((r) => setTimeout(r, 200));
    const first = await createUpload(a, -1);
    const posted = await postForm(first.form, Buffer.from('first'), 'text/plain');
    check('a form-encoded callback completes the upload on replica A', posted.status === 200
          && posted.body.includes('COMPLETED'), `${posted.status} ${posted.body}`);
    const seen = await onB.until((ev) => ev.some((e) => e.upload.name === first.upload.name), 10000);
    check('the subscriber on replica B gets the event', seen && onB.events[0].type === 'COMPLETED');
    const firstSeq = BigInt(onB.events[0].sequence);

    // 2. 1,000 uploads across both replicas; a live subscriber on A, a resuming one on B.
    const live = watch(a, { parent: 'namespaces/acme', after_sequence: String(firstSeq) });
    const resuming = watch(b, { parent: 'namespaces/acme', after_sequence: String(firstSeq) });
    const t0 = Date.now();
    const created = await pool([...Array(UPLOADS).keys()], 16, (i) => createUpload(i % 2 ? b : a, i));
    // At most 3 posts at once: the emulator answers on 4 worker threads, and each callback's
    // HeadObject needs one of them while the post that triggered it holds another.
    // The resuming subscriber disconnects after the first half and resumes on the other replica
    // while the second half completes.
    const post = (c, i) => postForm(c.form, Buffer.from(`upload ${i}\n`), 'text/plain');
    const half = Math.floor(UPLOADS / 2);
    const results = await pool(created.slice(0, half), 3, post);
    await resuming.until((ev) => ev.length >= half, 30000);
    resuming.cancel();
    const before = resuming.events.slice();
    const lastSeen = before[before.length - 1].sequence;
    const resumed = watch(a, { parent: 'namespaces/acme', after_sequence: lastSeen });
    results.push(...await pool(created.slice(half), 3, (c, i) => post(c, half + i)));
    const ok = results.filter((r) => r.status === 200).length;
    check(`${UPLOADS} uploads complete through both replicas`, ok === UPLOADS,
          `${ok} ok; first failure: ${JSON.stringify(results.find((r) => r.status !== 200))}`);
    console.log(`     (${UPLOADS} creates and uploads in ${Date.now() - t0} ms)`);
    await resumed.until((ev) => before.length + ev.length >= UPLOADS, 30000);
    await live.until((ev) => ev.length >= UPLOADS, 30000);
    await new Promise((r) => setTimeout(r, 300));  // anything extra would show up now

    const names = new Set(created.map((c) => c.upload.name));
    const check1000 = (label, events) => {
      const got = events.map((e) => e.upload.name);
      const distinct = new Set(got);
      check(`${label}: every event exactly once`, got.length === UPLOADS && distinct.size === UPLOADS
            && [...distinct].every((n) => names.has(n)), `${got.length} events, ${distinct.size} distinct`);
      check(`${label}: in sequence order without gaps`, inOrderOnce(events)
            && BigInt(events[0].sequence) === firstSeq + 1n);
    };
    check1000('live subscriber on A', live.events);
    check1000('subscriber resumed on the other replica', before.concat(resumed.events));
    check('the resume point split the stream cleanly', before.length > 0 && resumed.events.length > 0
          && BigInt(resumed.events[0].sequence) === BigInt(lastSeen) + 1n);
    live.cancel();
    resumed.cancel();
    onB.cancel();
  } finally {
    a.close();
    b.close();
    await stack.stop();
  }
}

main()
  .catch((err) => t.fail(`unexpected error: ${err.stack}`))
  .finally(() => t.finish());
