// A stand-in for a customer's backend: it owns its users' sessions, asks the upload orchestrator
// for a signed form when a signed-in user wants to upload, and streams that user's upload events
// to the page with Server-Sent Events fed by WatchUploads. The file itself never passes through
// here: the page posts it straight to OSS.
//
//   OSSUP_TARGET=127.0.0.1:50051 OSSUP_TOKEN=... OSSUP_NAMESPACE=acme node server.js
//
// Environment: OSSUP_TARGET, OSSUP_TOKEN or OSSUP_TOKEN_FILE, OSSUP_NAMESPACE, PORT (default
// 8080; 0 picks one), HOST (default 127.0.0.1), MAX_UPLOAD_BYTES (default 5 MiB),
// OSSUP_PROTO_DIR (default: the repository's proto/), COOKIE_SECURE=1 to mark the session cookie
// Secure behind a TLS-terminating proxy (it is marked Secure anyway when the request came over
// https). Prints "browser-upload listening on URL".
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const express = require('express');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const env = process.env;
const NAMESPACE = env.OSSUP_NAMESPACE || 'acme';
const PARENT = `namespaces/${NAMESPACE}`;
const MAX_UPLOAD_BYTES = Number(env.MAX_UPLOAD_BYTES || 5 * 1024 * 1024);
const MAX_STREAMS_PER_USER = 8;  // a few tabs; each stream holds a WatchUploads call open
const TOKEN = (env.OSSUP_TOKEN || (env.OSSUP_TOKEN_FILE && fs.readFileSync(env.OSSUP_TOKEN_FILE, 'utf8')) || '').trim();
if (!TOKEN) {
  console.error('browser-upload: set OSSUP_TOKEN or OSSUP_TOKEN_FILE');
  process.exit(2);
}

// --- the orchestrator's gRPC API ---------------------------------------------------------------
const protoDir = env.OSSUP_PROTO_DIR || path.resolve(__dirname, '../../../proto');
const def = protoLoader.loadSync(path.join(protoDir, 'ossup/upload/v1/upload_service.proto'), {
  keepCase: false, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [protoDir],
});
const { UploadService } = grpc.loadPackageDefinition(def).ossup.upload.v1;
// After a service restart grpc-js reconnects with backoff; cap it (default 120 s) so the backend
// is back within seconds.
const uploads = new UploadService(env.OSSUP_TARGET || '127.0.0.1:50051', grpc.credentials.createInsecure(),
  { 'grpc.initial_reconnect_backoff_ms': 250, 'grpc.max_reconnect_backoff_ms': 5000 });
// CreateUpload waits for the channel to connect (within its deadline) instead of failing at once
// while it is reconnecting; the event stream's calls fail at once, so the page hears of it and its
// EventSource retries.
const metadata = ({ waitForReady = false } = {}) => {
  const md = new grpc.Metadata({ waitForReady });
  md.set('authorization', `Bearer ${TOKEN}`);
  return md;
};
// Timestamps arrive as {seconds, nanos}; the page gets RFC 3339 strings.
const readable = (value) => JSON.stringify(value, (key, v) => (
  v && typeof v === 'object' && 'seconds' in v && 'nanos' in v && Object.keys(v).length === 2
    ? new Date(Number(v.seconds) * 1000 + Math.floor(v.nanos / 1e6)).toISOString() : v));
const unary = (method, request, { waitForReady = true } = {}) => new Promise((resolve, reject) => {
  uploads[method](request, metadata({ waitForReady }), { deadline: Date.now() + 10000 },
    (err, res) => (err ? reject(err) : resolve(res)));
});

// --- this backend's own users: a signed session cookie --------------------------------------
// A real backend has its own login; this one accepts any user name that looks like one.
const SESSION_KEY = crypto.randomBytes(32);
const sign = (user) => crypto.createHmac('sha256', SESSION_KEY).update(user).digest('base64url');
function sessionUser(req) {
  const cookie = (req.headers.cookie || '').split(/;\s*/).find((c) => c.startsWith('session='));
  if (!cookie) return null;
  const [user, mac] = decodeURIComponent(cookie.slice('session='.length)).split('.');
  if (!user || !mac) return null;
  const want = Buffer.from(sign(user));
  const got = Buffer.from(mac);
  return want.length === got.length && crypto.timingSafeEqual(want, got) ? user : null;
}
function requireUser(req, res, next) {
  req.user = sessionUser(req);
  if (!req.user) return res.status(401).json({ error: 'sign in first' });
  return next();
}

const app = express();
app.disable('x-powered-by');
app.use(express.json({ limit: '4kb' }));

app.post('/api/login', (req, res) => {
  const user = String((req.body && req.body.user) || '');
  if (!/^[a-z0-9_-]{1,32}$/.test(user)) return res.status(400).json({ error: 'user: 1-32 of a-z 0-9 _ -' });
  const secure = req.secure || env.COOKIE_SECURE === '1' ? '; Secure' : '';
  res.setHeader('Set-Cookie', `session=${encodeURIComponent(`${user}.${sign(user)}`)}; HttpOnly; SameSite=Strict; Path=/${secure}`);
  return res.json({ user });
});

// Authorizes one upload for the signed-in user. The limits are this backend's policy, not what the
// page claims: OSS enforces them because they are bound into the signed form.
app.post('/api/uploads', requireUser, async (req, res) => {
  const body = req.body || {};
  const fileName = body.fileName === undefined ? 'file' : body.fileName;
  const contentType = body.contentType || 'application/octet-stream';
  // The page is untrusted: refuse what no browser would send rather than pass it on.
  if (typeof fileName !== 'string' || fileName.length < 1 || fileName.length > 255) {
    return res.status(400).json({ error: 'fileName: a string of 1-255 characters' });
  }
  if (typeof contentType !== 'string' || !/^[\w.+-]{1,64}\/[\w.+-]{1,64}$/.test(contentType)) {
    return res.status(400).json({ error: 'contentType: a media type such as image/png' });
  }
  try {
    const created = await unary('CreateUpload', {
      parent: PARENT,
      subject: req.user,
      keyTemplate: { prefix: `users/${req.user}/`, fileName },
      constraints: { contentTypes: [contentType], minSize: 1, maxSize: MAX_UPLOAD_BYTES },
      metadata: { app: 'browser-upload' },
      requestId: crypto.randomUUID(),
    });
    res.type('json');
    return res.send(readable({ upload: created.upload, form: created.form, maxBytes: MAX_UPLOAD_BYTES }));
  } catch (err) {
    // The page learns what it can act on; the service's own words stay in this backend's log.
    if (err.code === grpc.status.INVALID_ARGUMENT) return res.status(400).json({ error: err.details });
    console.error(`CreateUpload: ${err.code} ${err.details || err.message}`);
    return res.status(502).json({ error: 'the upload service is unavailable; try again' });
  }
});

const openStreams = new Map();  // user -> SSE streams open

// The signed-in user's upload events as Server-Sent Events. The SSE id is the event sequence, so
// a browser that reconnects (EventSource does, with Last-Event-ID) resumes without a gap.
//
// Always a 200 event stream: EventSource gives up for good on any other status, and reconnects
// (after `retry`) when a 200 stream ends. So trouble is told in the stream: `failure` (the
// service is unreachable; the stream ends and the browser retries), `reset` (the resume point
// was purged; the stream goes on from now, with a new id) and `fatal` (retrying cannot help;
// the page closes its EventSource). X-Accel-Buffering: nginx would hold events back.
app.get('/api/events', requireUser, async (req, res) => {
  const user = req.user;
  if (req.socket.destroyed) return undefined;  // gone already: 'close' would never come
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store',
                       Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
  const send = (event, data, id) => res.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${data}\n\n`);
  const fatal = (message) => {
    send('fatal', JSON.stringify({ error: message }));
    res.end();
  };
  if ((openStreams.get(user) || 0) >= MAX_STREAMS_PER_USER) {
    return fatal(`at most ${MAX_STREAMS_PER_USER} live event streams per user: close another tab`);
  }
  openStreams.set(user, (openStreams.get(user) || 0) + 1);
  let call = null;
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15000);
  res.on('close', () => {
    clearInterval(keepAlive);
    if (call) call.cancel();
    const left = openStreams.get(user) - 1;
    if (left > 0) openStreams.set(user, left);
    else openStreams.delete(user);
  });
  res.write('retry: 1000\n\n');
  const failed = (what, err) => {
    console.error(`${what}: ${err.code} ${err.details || err.message}`);
    // The backend's own setup is wrong (token, namespace): retrying every second cannot help.
    if ([grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED, grpc.status.INVALID_ARGUMENT]
      .includes(err.code)) {
      return fatal('live updates are not available (the site\'s backend is misconfigured)');
    }
    send('failure', JSON.stringify({ error: 'the upload service is unavailable; reconnecting' }));
    return res.end();  // the browser reconnects, with Last-Event-ID once it has one
  };
  // Pins "from now" to a sequence, so this stream and any resumption miss nothing. Fails at once
  // while the service is unreachable: the page's EventSource retries.
  const pinNow = async () => Number((await unary('ListUploads', { parent: PARENT, pageSize: 1 },
    { waitForReady: false })).eventSequence);
  const watch = (after) => {
    call = uploads.WatchUploads({ parent: PARENT, subject: user, afterSequence: String(after) }, metadata());
    call.on('data', (event) => send('upload', readable(event), event.sequence));
    call.on('end', () => res.end());  // a clean end: the browser reconnects with Last-Event-ID
    call.on('error', async (err) => {
      if (err.code === grpc.status.CANCELLED) return res.end();
      if (err.code !== grpc.status.OUT_OF_RANGE) return failed('WatchUploads', err);
      // The resume point is older than the service's retention: what happened in between is
      // gone. Say so (the page re-reads its uploads' state), and go on from now with a new id.
      let now;
      try {
        now = await pinNow();
      } catch (e) {
        return failed('ListUploads', e);
      }
      if (res.destroyed) return undefined;
      send('reset', JSON.stringify({ after: String(now) }), now);
      return watch(now);
    });
  };
  // Only a sequence number resumes; anything else (absent, empty, junk) starts from now.
  const lastId = String(req.headers['last-event-id'] || '');
  let after = /^\d{1,15}$/.test(lastId) ? Number(lastId) : -1;
  if (after < 0) {
    try {
      after = await pinNow();
    } catch (err) {
      return failed('ListUploads', err);
    }
    if (res.destroyed) return undefined;
  }
  // The id makes the pinned point the browser's Last-Event-ID: a reconnect before the first
  // upload event resumes from it instead of starting from "now" again and skipping the gap.
  send('ready', JSON.stringify({ after: String(after) }), after);
  watch(after);
  return undefined;
});

// Static files last: a lookup in public/ for /api/... would only delay the routes above.
app.use(express.static(path.join(__dirname, 'public')));

const server = app.listen(Number(env.PORT ?? 8080), env.HOST || '127.0.0.1', () => {
  const { address, port } = server.address();
  console.log(`browser-upload listening on http://${address}:${port}/`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
