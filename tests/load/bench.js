// The service benchmarks against PostgreSQL's own rate for the same writes, in the same run.
//
//   scripts/bench-service.sh            # starts a durable PostgreSQL, builds, runs this
//   node tests/load/bench.js [--rounds=3] [--out=DIR] [--smoke]
//   node tests/load/bench.js --report=DIR/service-bench.json   # the table of a saved run
//
// Scenarios (ossup-load does the load; see tests/load/ossup_load.cc):
//   1. CreateUpload at 1, 16 and 64 concurrent callers  vs  pgbench single-row INSERT
//   2. signed callbacks at 16 and 64                     vs  pgbench UPDATE + INSERT
//   3. callback accepted -> event received at 500/s (p50, p99)
//   4. 10,000 WatchUploads streams: service RSS, and one event delivered to all
// Writes DIR/service-bench.json (every raw run) and DIR/service-bench.md (medians and ratios).
// --smoke runs everything once, tiny, to prove the tools work (ctest does this).
// --no-head-object turns the service's HeadObject confirmation off, to show what it costs.
'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { ROOT } = require('../e2e/stack');
const { parseFlags } = require('./flags');
const { startBenchStack, run, loadResult } = require('./rig');

const { flags: args } = parseFlags(process.argv.slice(2));
const SMOKE = !!args.smoke;
const ROUNDS = SMOKE ? 1 : Number(args.rounds || 3);
const build = process.env.OSSUP_BUILD_DIR || path.join(ROOT, 'build');
const OUT = args.out || path.join(build, 'bench');
const LOAD = path.join(build, 'tests/load/ossup-load');
const DURATION = SMOKE ? '1s' : '10s';
const WARMUP = SMOKE ? '200ms' : '2s';
// Per pgbench run; each service scenario has one run right before it and one right after.
const PGBENCH_SECONDS = SMOKE ? 1 : 5;
const NS = 'demo';
const pgbin = execFileSync('bash', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1']).toString().trim();

async function load(stack, scenario, extra) {
  const out = await run(LOAD, [scenario, `--target=${stack.grpcTarget}`, `--token=${stack.token}`,
    `--namespace=${NS}`, ...extra]);
  return loadResult(out);
}

// pgbench with one of the SQL scripts below at `clients`; returns tps.
async function pgbench(dbUrl, script, clients) {
  const out = await run(path.join(pgbin, 'pgbench'), ['-n', '-M', 'prepared', '-c', String(clients),
    '-j', '2', '-T', String(PGBENCH_SECONDS), '-f', script, dbUrl]);
  const m = out.match(/tps = ([\d.]+) \(without initial connection time\)/);
  if (!m) throw new Error(`pgbench output without tps: ${out}`);
  return Number(m[1]);
}

// The same writes as the service, on the service's own tables (rows in namespace 'pgbench').
const CREATE_SQL = `
INSERT INTO uploads (id, namespace, subject, state, bucket, object_key, content_types, min_size,
  max_size, metadata, callback_token_sha256, request_id, request_fingerprint, create_time,
  update_time, expire_time)
VALUES (gen_random_uuid(), 'pgbench', 'load-' || (random() * 1000)::int, 1, 'media',
  'load/' || md5(random()::text) || '/f.bin', '{application/octet-stream}', 0, 1048576, '{}',
  sha256(random()::text::bytea), NULL, NULL, now(), now(), now() + interval '10 minutes');
`;
// One transaction: complete one pending row by primary key (returning it) and log its event
// (returning the sequence), without NOTIFY, as the yardstick prescribes.
const CALLBACK_SQL = `
\\set n random(1, :rows)
BEGIN;
UPDATE uploads SET state = 2, update_time = now(), reported_bucket = 'media',
  reported_key = object_key, reported_size = 100, reported_content_type = 'application/octet-stream',
  reported_etag = md5(random()::text)
  WHERE id = md5('pgbench-' || :n)::uuid RETURNING *;
INSERT INTO pgbench_events (namespace, upload_id, type, event_time, upload)
  VALUES ('pgbench', md5('pgbench-' || :n)::uuid, 2, now(), '{"state": 2}') RETURNING sequence;
END;
`;

function prepareYardsticks(dbUrl, dir, rows) {
  const psql = (sql) => execFileSync('psql', [dbUrl, '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
  psql(`CREATE TABLE IF NOT EXISTS pgbench_events (sequence bigserial PRIMARY KEY,
          namespace text NOT NULL, upload_id uuid NOT NULL, type smallint NOT NULL,
          event_time timestamptz NOT NULL, upload jsonb NOT NULL)`);
  psql(`INSERT INTO uploads (id, namespace, subject, state, bucket, object_key, min_size, max_size,
          callback_token_sha256, create_time, update_time, expire_time)
        SELECT md5('pgbench-' || n)::uuid, 'pgbench', 'load', 1, 'media', 'load/' || n || '/f.bin',
          0, 1048576, sha256(n::text::bytea), now(), now(), now() + interval '1 hour'
        FROM generate_series(1, ${rows}) n ON CONFLICT DO NOTHING`);
  psql('VACUUM ANALYZE');
  fs.writeFileSync(path.join(dir, 'create.sql'), CREATE_SQL);
  fs.writeFileSync(path.join(dir, 'callback.sql'), CALLBACK_SQL.replace(':rows', String(rows)));
}

// `dir` if it is a tmpfs with at least `bytes` free, else undefined.
function ramDiskWithRoom(dir, bytes) {
  try {
    const st = fs.statfsSync(dir);
    const TMPFS_MAGIC = 0x01021994;
    return st.type === TMPFS_MAGIC && st.bavail * st.bsize >= bytes ? dir : undefined;
  } catch {
    return undefined;
  }
}

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};

// The yardstick right before and right after the service's run, averaged: pgbench alone moves by
// up to 45 % between rounds here, and a drift over the pair falls on both sides alike (with one
// pgbench run after the service, a round's ratio took all of it).
async function bracketed(yardstick, measure) {
  const before = await yardstick();
  const result = await measure();
  const after = await yardstick();
  return { result, yardstick: (before + after) / 2, runs: [before, after] };
}

function machine() {
  const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1];
  const pg = execFileSync(path.join(pgbin, 'postgres'), ['--version']).toString().trim();
  return `${os.cpus().length} cores (${cpu || 'unknown CPU'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `${os.type()} ${os.release()}, ${pg}; service, PostgreSQL (durable: fsync, synchronous_commit, full_page_writes on) and load generator share the cores`;
}

async function main() {
  const dbUrl = process.env.DATABASE_URL;
  if (!dbUrl) throw new Error('DATABASE_URL is not set (scripts/bench-service.sh starts PostgreSQL)');
  fs.mkdirSync(OUT, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ossup-bench-'));

  // The emulator's objects on a RAM disk when one has room: against real OSS, storing objects is
  // OSS's work on its own machines, and here the kernel writing them back to disk took up to half
  // a core during the callback phase (kworker writeback, measured with /proc).
  const ramDisk = ramDiskWithRoom('/dev/shm', 2 * 2 ** 30);
  console.error(`emulator objects: ${ramDisk ? `on ${ramDisk} (RAM disk)` : 'in the temp folder (no RAM disk with 2 GiB free)'}`);
  const { stack, signing } = await startBenchStack(dir, {
    emulatorDataDir: ramDisk,
    serviceConfig: args['no-head-object'] ? { confirm_with_head_object: false } : {},
  });
  const raw = { machine: machine(), started: new Date().toISOString(), smoke: SMOKE,
                head_object: !args['no-head-object'], emulator_ram_disk: !!ramDisk, rounds: [] };
  try {
    const url = new URL(dbUrl);
    url.pathname = `/${stack.dbName}`;
    const pendingRows = SMOKE ? 1000 : 400000;
    prepareYardsticks(url.toString(), dir, pendingRows);
    const cbArgs = signing.loadArgs;
    const servicePid = stack.services[0].child.pid;
    for (let r = 0; r < ROUNDS; r++) {
      const round = { create: {}, pg_insert: {}, pg_insert_runs: {}, callbacks: {}, pg_callback: {},
        pg_callback_runs: {} };
      for (const c of [1, 16, 64]) {
        const b = await bracketed(() => pgbench(url.toString(), path.join(dir, 'create.sql'), c),
          () => load(stack, 'create', [`--concurrency=${c}`, `--duration=${DURATION}`, `--warmup=${WARMUP}`]));
        [round.create[c], round.pg_insert[c], round.pg_insert_runs[c]] = [b.result, b.yardstick, b.runs];
        console.error(`round ${r + 1}: create@${c} ${round.create[c].throughput_per_s.toFixed(0)}/s vs pgbench ${round.pg_insert[c].toFixed(0)} tps (${round.pg_insert_runs[c].map((x) => x.toFixed(0)).join(" before, ")} after)`);
      }
      for (const c of [16, 64]) {
        const n = SMOKE ? 100 : 8000;
        const b = await bracketed(() => pgbench(url.toString(), path.join(dir, 'callback.sql'), c),
          () => load(stack, 'callbacks', [`--concurrency=${c}`, `--uploads=${n}`, ...cbArgs]));
        [round.callbacks[c], round.pg_callback[c], round.pg_callback_runs[c]] = [b.result, b.yardstick, b.runs];
        console.error(`round ${r + 1}: callbacks@${c} ${round.callbacks[c].throughput_per_s.toFixed(0)}/s vs pgbench ${round.pg_callback[c].toFixed(0)} tps (${round.pg_callback_runs[c].map((x) => x.toFixed(0)).join(" before, ")} after)`);
      }
      round.latency = await load(stack, 'latency', ['--rate=500', `--uploads=${SMOKE ? 100 : 5000}`, ...cbArgs]);
      console.error(`round ${r + 1}: event latency p50 ${round.latency.p50_ms.toFixed(2)} ms, p99 ${round.latency.p99_ms.toFixed(2)} ms`);
      // Every round: the fan-out varies by tens of milliseconds between runs on shared cores.
      round.streams = await load(stack, 'streams', [`--streams=${SMOKE ? 200 : 10000}`, `--service-pid=${servicePid}`, ...cbArgs]);
      console.error(`round ${r + 1}: streams ${JSON.stringify(round.streams)}`);
      raw.rounds.push(round);
    }
  } finally {
    await stack.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  fs.writeFileSync(path.join(OUT, 'service-bench.json'), `${JSON.stringify(raw, null, 2)}\n`);
  const md = report(raw);
  fs.writeFileSync(path.join(OUT, 'service-bench.md'), md);
  console.log(md);
  return raw;
}

function report(raw) {
  const med = (f) => median(raw.rounds.map(f));
  const pct = (x) => `${(100 * x).toFixed(0)} %`;
  // The ratio of each round (the service against the pgbench runs around it), then their median
  // and range: pgbench alone moves by tens of percent between rounds here.
  const ratio = (f) => {
    const rs = raw.rounds.map(f);
    return rs.length === 1 ? pct(rs[0])
      : `${pct(median(rs))} (${pct(Math.min(...rs))}–${pct(Math.max(...rs))})`;
  };
  const lines = [
    `Machine: ${raw.machine}. ${raw.rounds.length} round(s), medians; ${raw.started}` +
      `${raw.head_object ? '' : '; HeadObject confirmation OFF (--no-head-object)'}` +
      `${raw.emulator_ram_disk ? "; the emulator's objects on a RAM disk" : ''}.`,
    '',
    '| Scenario | Service | PostgreSQL alone (pgbench) | Ratio | Target |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const c of [1, 16, 64]) {
    const s = med((r) => r.create[c].throughput_per_s);
    const p = med((r) => r.pg_insert[c]);
    const target = { 16: '≥ 75 %', 64: '≥ 100 %' }[c] || '-';
    lines.push(`| CreateUpload, ${c} caller(s) | ${s.toFixed(0)}/s (p50 ${med((r) => r.create[c].p50_ms).toFixed(2)} ms, p99 ${med((r) => r.create[c].p99_ms).toFixed(2)} ms) | ${p.toFixed(0)} tps INSERT | ${ratio((r) => r.create[c].throughput_per_s / r.pg_insert[c])} | ${target} |`);
  }
  for (const c of [16, 64]) {
    const s = med((r) => r.callbacks[c].throughput_per_s);
    const p = med((r) => r.pg_callback[c]);
    lines.push(`| Callbacks, ${c} concurrent | ${s.toFixed(0)}/s (p50 ${med((r) => r.callbacks[c].p50_ms).toFixed(2)} ms, p99 ${med((r) => r.callbacks[c].p99_ms).toFixed(2)} ms) | ${p.toFixed(0)} tps UPDATE+INSERT | ${ratio((r) => r.callbacks[c].throughput_per_s / r.pg_callback[c])} | ≥ 70 % |`);
  }
  lines.push(`| Event latency at 500 callbacks/s | p50 ${med((r) => r.latency.p50_ms).toFixed(2)} ms, p99 ${med((r) => r.latency.p99_ms).toFixed(2)} ms (worst round's p99 ${Math.max(...raw.rounds.map((r) => r.latency.p99_ms)).toFixed(2)} ms; achieved ${med((r) => r.latency.achieved_rate_per_s).toFixed(0)}/s) | - | - | p99 ≤ 10 ms |`);
  const st = (f) => med((r) => f(r.streams));
  const first = raw.rounds[0].streams;
  // RSS: the first round's streams open in a process that never had them; later rounds start
  // from what the allocator kept of the previous round's, so the largest RSS is the figure.
  const rss = Math.max(...raw.rounds.map((r) => r.streams.service_rss_mb_with_streams));
  lines.push(`| ${first.streams} WatchUploads streams | RSS at most ${rss.toFixed(0)} MB (first round: ${first.service_rss_mb_before.toFixed(0)} MB before, ${first.service_rss_mb_with_streams.toFixed(0)} MB with the streams); one event to all in ${st((s) => s.fanout_ms).toFixed(0)} ms (${st((s) => s.received)} received; CPU meanwhile: service ${st((s) => s.fanout_service_cpu_ms).toFixed(0)} ms, load generator ${st((s) => s.fanout_load_generator_cpu_ms).toFixed(0)} ms) | - | - | ≤ 300 MB, ≤ 250 ms |`);
  return `${lines.join('\n')}\n`;
}

if (args.report) {
  // Renders the table of a saved run again: node tests/load/bench.js --report=service-bench.json
  process.stdout.write(report(JSON.parse(fs.readFileSync(args.report, 'utf8'))));
} else {
  main().catch((err) => {
    console.error(`bench: ${err.stack}`);
    process.exit(1);
  });
}
