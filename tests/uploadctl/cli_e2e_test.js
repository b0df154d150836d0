// uploadctl end to end against the local stack (PostgreSQL, the OSS emulator, the service):
// create/get/list/cancel, a 200 MiB upload with a progress bar on a terminal, progress lines
// otherwise, parallel uploads, an oversize upload refused by OSS, a failed callback (203), exit
// codes, a watch that resumes across a service restart without gaps or duplicates, and the client
// library's example program.
// Usage: node cli_e2e_test.js   (DATABASE_URL set by tests/run.sh; OSSUP_BUILD_DIR optional)
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const { requireDatabaseOrSkip, tally } = require('../js/harness');
const { startStack, postForm, ROOT } = require('../e2e/stack');

requireDatabaseOrSkip();

const build = process.env.OSSUP_BUILD_DIR || path.join(ROOT, 'build');
const UPLOADCTL = path.join(build, 'client/uploadctl');
const t = tally('uploadctl e2e');
const check = t.check;

// Runs uploadctl; resolves { code, stdout, stderr }.
function run(args, env, { tty = false, timeoutMs = 120000 } = {}) {
  return new Promise((resolve) => {
    // `script` gives the child a pseudo-terminal, as a person's shell would.
    const quoted = [UPLOADCTL, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const child = tty
      ? spawn('script', ['-qefc', quoted, '/dev/null'], { env })
      : spawn(UPLOADCTL, args, { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function writeFile(dir, name, bytes, fill = 'x') {
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.alloc(bytes, fill));
  return file;
}

const show = (r) => `(exit ${r.code})\n--- stdout\n${r.stdout.slice(-2000)}\n--- stderr\n${r.stderr.slice(-2000)}`;

async function faults(stack, body) {
  const res = await fetch(`${stack.emulatorUrl}/_emulator/faults`, { method: 'POST', body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`faults: HTTP ${res.status}`);
}

async function resourceCommands(env) {
  let r = await run(['create', '--subject=alice', '--prefix=docs/', '--file-name=report.pdf',
    '--content-type=application/pdf', '--max-size=1048576', '--metadata=ticket=42', '--json'], env);
  let created = null;
  try { created = JSON.parse(r.stdout); } catch (e) { /* checked below */ }
  check('create prints the upload and its signed form as JSON', r.code === 0 && created
    && created.upload.state === 'PENDING' && created.form.fields.some((f) => f.name === 'policy'), show(r));
  if (!created) return;
  const name = created.upload.name;
  const id = name.split('/').pop();

  r = await run(['get', id], env);
  check('get takes a bare id with --namespace and prints it for people',
    r.code === 0 && r.stdout.includes('state:       PENDING') && r.stdout.includes('metadata:    ticket=42'), show(r));
  r = await run(['list', '--state=PENDING', '--subject=alice'], env);
  check('list filters by state and subject', r.code === 0 && r.stdout.includes(name), show(r));
  r = await run(['list', '--state=PENDING', '--json'], env);
  check('list --json prints the page with its event sequence',
    r.code === 0 && JSON.parse(r.stdout.split('\n')[0]).uploads.some((u) => u.name === name), show(r));
  r = await run(['cancel', name, '--json'], env);
  check('cancel cancels', r.code === 0 && JSON.parse(r.stdout).state === 'CANCELLED', show(r));
  r = await run(['cancel', name], env);
  check('cancelling twice is a service error (exit 3) that says why',
    r.code === 3 && r.stderr.includes('FAILED_PRECONDITION'), show(r));
  r = await run(['get', 'namespaces/acme/uploads/00000000-0000-4000-8000-000000000000'], env);
  check('an unknown upload is NOT_FOUND, exit 3', r.code === 3 && r.stderr.includes('NOT_FOUND'), show(r));
  r = await run(['get', 'namespaces/other/uploads/x'], env);
  check('a namespace the token may not use is refused', r.code === 3 && r.stderr.includes('PERMISSION_DENIED'), show(r));
  r = await run(['get', id], { ...env, OSSUP_NAMESPACE: '' });
  check('a bare id without --namespace is a usage error (exit 2)', r.code === 2, show(r));
  r = await run(['get', id], { ...env, OSSUP_TOKEN: '' });
  check('no token is a usage error naming the sources', r.code === 2 && r.stderr.includes('OSSUP_TOKEN_FILE'), show(r));
  r = await run(['get', id], { ...env, OSSUP_TOKEN: 'wrong' });
  check('a wrong token is UNAUTHENTICATED', r.code === 3 && r.stderr.includes('UNAUTHENTICATED'), show(r));
  r = await run(['get', id, '--target=127.0.0.1:1', '--timeout=2s'], env);
  check('an unreachable service is exit 4 within the deadline', r.code === 4, show(r));
  r = await run(['create', '--subject=a', '--key=k', '--prefix=p/', '--max-size=1'], env);
  check('--key and --prefix together are a usage error', r.code === 2, show(r));
  for (const cmd of ['create', 'get', 'list', 'cancel', 'watch', 'upload', 'verify-callback']) {
    r = await run([cmd, '--help'], env);
    check(`${cmd} --help`, r.code === 0 && r.stdout.includes(`uploadctl ${cmd}`), show(r));
  }
  r = await run(['--help'], env);
  check('--help lists the exit codes', r.code === 0 && r.stdout.includes('4  the service or OSS could not be reached'), show(r));
}

async function bigUploads(env, dir) {
  const big = writeFile(dir, 'big.bin', 200 * 1024 * 1024, 'b');
  let r = await run(['upload', big, '--progress=auto'], env, { tty: true, timeoutMs: 300000 });
  const out = r.stdout;  // the terminal carries both streams
  check('a 200 MiB upload completes', r.code === 0 && /big\.bin: COMPLETED media\/uploads\/[^ ]+\/big\.bin \(209715200 bytes/.test(out), show(r));
  check('on a terminal it draws a redrawn progress bar with rate and ETA',
    /\r\x1b\[Kbig\.bin \[#*\.*\] +\d+% [\d.]+ MiB \/ 200\.0 MiB, [\d.]+ [KMG]iB\/s, ETA \d/.test(out), show(r));
  const name = (out.match(/(namespaces\/acme\/uploads\/[0-9a-f-]+)/) || [])[1];
  r = await run(['get', name || 'missing', '--json'], env);
  check('the service recorded the object size OSS reported',
    r.code === 0 && JSON.parse(r.stdout).object.size === '209715200', show(r));

  const mid = writeFile(dir, 'mid.bin', 30 * 1024 * 1024, 'm');
  r = await run(['upload', mid, '--progress-interval=50ms'], env);
  check('off a terminal it prints plain progress lines, ending at 100 %',
    r.code === 0 && r.stderr.includes('mid.bin 100% 30.0 MiB / 30.0 MiB') && !r.stderr.includes('\r')
    && r.stdout.includes('mid.bin: COMPLETED'), show(r));
}

async function parallelAndRefusals(env, dir, stack) {
  const files = [];
  for (let i = 0; i < 6; i++) files.push(writeFile(dir, `part-${i}.txt`, (i + 1) * 512 * 1024, String(i)));
  let r = await run(['upload', '-j', '3', '--json', '--progress=none', '--metadata=batch=7', ...files], env);
  const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const names = new Set(lines.map((l) => l.upload && l.upload.name));
  check('-j 3 uploads six files, each to its own COMPLETED upload',
    r.code === 0 && lines.length === 6 && names.size === 6
    && lines.every((l) => l.ok && l.event.type === 'COMPLETED' && l.upload.metadata.batch === '7'), show(r));
  check('each result reports the size OSS stored',
    lines.every((l) => Number(l.upload.object.size) === fs.statSync(l.file).size), show(r));
  // Run one after another, no upload could be created before the first one completed.
  const nanos = (ts) => { const m = /^(.*?)(?:\.(\d+))?Z$/.exec(ts);
    return BigInt(Date.parse(`${m[1]}Z`)) * 1000000n + BigInt((m[2] || '').padEnd(9, '0')); };
  if (lines.length === 6 && lines.every((l) => l.event)) {
    const firstDone = lines.map((l) => nanos(l.event.eventTime)).reduce((a, b) => (a < b ? a : b));
    const createdBefore = lines.filter((l) => nanos(l.upload.createTime) < firstDone).length;
    check('-j 3 runs uploads at once: several were created before the first completed',
      createdBefore >= 2, `${createdBefore} created before the first completion`);
  }

  const big = writeFile(dir, 'oversize.bin', 5000);
  r = await run(['upload', big, '--max-size=1000', '--json', '--progress=none'], env);
  let res = null;
  try { res = JSON.parse(r.stdout); } catch (e) { /* checked below */ }
  check('an oversize file is refused by OSS itself (exit 1, EntityTooLarge)',
    r.code === 1 && res && res.ossStatus === 400 && res.ossError.code === 'EntityTooLarge', show(r));
  check('the refusal says which limit, and the pending upload is cancelled',
    res && res.message.includes('larger than the signed limit of 1000 bytes') && res.message.includes('cancelled')
    && res.upload && res.upload.state === 'CANCELLED', show(r));
  if (res && res.upload) {
    const g = await run(['get', res.upload.name, '--json'], env);
    check('get shows the refused upload CANCELLED', g.code === 0 && JSON.parse(g.stdout).state === 'CANCELLED', show(g));
  }
  r = await run(['upload', path.join(dir, 'no-such-file')], env);
  check('a missing file is exit 2', r.code === 2 && r.stderr.includes('not a readable regular file'), show(r));

  await faults(stack, { callback: 'drop' });
  const small = writeFile(dir, 'dropped.txt', 100);
  r = await run(['upload', small, '--progress=none'], env);
  await faults(stack, { callback: 'none' });
  check('a 203 CallbackFailed is a failure with OSS\'s own message and what the service saw',
    r.code === 1 && r.stderr.includes('OSS stored the object, but its callback to the service failed')
    && r.stderr.includes('OSS can not connect to your callbackUrl')
    && r.stderr.includes('the service recorded no callback') && r.stderr.includes('verify-callback'), show(r));
}

// A `watch` child that collects JSON events; resolves when it exits.
function startWatch(env, args) {
  const child = spawn(UPLOADCTL, ['watch', '--json', ...args], { env });
  const w = { stdout: '', stderr: '', ready: null, done: null };
  w.ready = new Promise((resolve) => {
    child.stderr.on('data', (d) => {
      w.stderr += d;
      if (w.stderr.includes('watching namespaces/acme after sequence')) resolve();
    });
  });
  child.stdout.on('data', (d) => { w.stdout += d; });
  w.done = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  w.kill = () => child.kill('SIGKILL');
  return w;
}

async function watchAcrossRestart(env, dir, stack) {
  const w = startWatch(env, ['--count=6']);
  await w.ready;
  const upload = (name) => run(['upload', writeFile(dir, name, 1000), '--progress=none', '--no-wait'], env);
  for (const n of ['w1.txt', 'w2.txt']) await upload(n);
  await stack.restartService({ sameGrpcPort: true });
  // Right after the restart, while the watcher may still be backing off.
  for (const n of ['w3.txt', 'w4.txt', 'w5.txt', 'w6.txt']) {
    const r = await upload(n);
    if (r.code !== 0) t.fail(`upload ${n} after restart ${show(r)}`);
  }
  const timer = setTimeout(w.kill, 60000);
  const code = await w.done;
  clearTimeout(timer);
  const events = w.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const seqs = events.map((e) => Number(e.sequence));
  const keys = events.map((e) => path.basename(e.upload.objectKey));
  check('watch follows across a service restart: six events, then exit 0',
    code === 0 && events.length === 6, `exit ${code}\n${w.stdout}\n${w.stderr}`);
  check('no event is missed or repeated, and sequences increase',
    seqs.every((s, i) => i === 0 || s > seqs[i - 1])
    && JSON.stringify(keys) === JSON.stringify(['w1.txt', 'w2.txt', 'w3.txt', 'w4.txt', 'w5.txt', 'w6.txt']), keys.join(','));
  check('it said it reconnected and resumed', /reconnecting in/.test(w.stderr) && /resumed after sequence \d+/.test(w.stderr), w.stderr);

  // Resume explicitly from a sequence, as a script that stored its position would.
  const r = await run(['watch', `--after-sequence=${seqs[1]}`, '--count=2', '--json'], env);
  const again = r.stdout.trim().split('\n').filter(Boolean).map((l) => Number(JSON.parse(l).sequence));
  check('--after-sequence resumes right after the given event', r.code === 0 && JSON.stringify(again) === JSON.stringify(seqs.slice(2, 4)), show(r));
  const idle = await run(['watch', '--for=300ms'], env);
  check('--for ends an idle watch with status 0', idle.code === 0, show(idle));
}

// The library's documented example (client/examples) as a backend would run it: it prints the
// form, a browser posts it, and the example prints the completion its watch received.
async function libraryExample(env) {
  const example = path.join(build, 'client/upload_client_example');
  const child = spawn(example, [env.OSSUP_TARGET, 'acme'], { env });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('close', resolve));
  const formLine = await new Promise((resolve) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('\n')) resolve(stdout.split('\n')[0]);
    });
    child.on('close', () => resolve(null));
  });
  let posted = null;
  if (formLine) {
    const form = JSON.parse(formLine);
    posted = await postForm({ url: form.url, fields: form.fields, client_fields: form.clientFields || [],
      file_field: form.fileField }, Buffer.from('\x89PNG example'), 'image/png');
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
  const code = await exited;
  clearTimeout(timer);
  check('the client library example prints a form that a browser-style POST completes',
    posted && posted.status === 200 && code === 0
    && /^COMPLETED avatars\/[^ ]+\/me\.png after sequence \d+$/m.test(stdout),
    `exit ${code} POST ${posted && posted.status}\n${stdout}\n${stderr}`);
}

(async () => {
  if (!fs.existsSync(UPLOADCTL)) {
    t.fail(`${UPLOADCTL} is not built`);
    t.finish();
  }
  const stack = await startStack();
  const dir = fs.mkdtempSync(path.join(stack.dir, 'files-'));
  const env = { ...process.env, OSSUP_TARGET: stack.grpcTarget, OSSUP_TOKEN: stack.token,
                OSSUP_NAMESPACE: 'acme' };
  try {
    await resourceCommands(env);
    await libraryExample(env);
    await bigUploads(env, dir);
    await parallelAndRefusals(env, dir, stack);
    await watchAcrossRestart(env, dir, stack);
  } catch (err) {
    t.fail(err.stack);
  } finally {
    await stack.stop();
  }
  t.finish();
})();
