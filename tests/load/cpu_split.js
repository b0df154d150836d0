// Where one scenario's CPU goes: per process (from /proc), context switches per operation of the
// service and the load generator, and the machine's busy share, during the measured phase only.
//
//   eval "$(PGTMP_DURABLE=1 scripts/pgtmp.sh start)"
//   node tests/load/cpu_split.js create@16
//   node tests/load/cpu_split.js callbacks@16 --uploads=40000 --span=3 --ram-disk
//   node tests/load/cpu_split.js callbacks@16 --uploads=40000 --perf="-g -F 2000"   # perf record
//
// --service/--load pick the binaries (default: this build's); --perf records the service (or,
// with --perf-emulator, the emulator) into perf.data in the current folder for `perf report`;
// --pg-stat-statements prints the statements' times (needs pg_stat_statements preloaded);
// --ram-disk keeps the emulator's objects on /dev/shm (as the benchmark does when it can);
// --load-args="--cq-threads=2" passes more options to ossup-load. The group commit's
// transactions per second, items and duration come from the service's /metrics; --threads
// splits the service's CPU and context switches by thread name.
// Creates are measured from 1 s to 9 s of a 10 s run; callbacks for --span seconds from the
// moment they start being sent (--uploads must outlast that).
'use strict';

const { execFileSync, spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { ROOT } = require('../e2e/stack');
const { parseFlags } = require('./flags');
const { startBenchStack, loadResult } = require('./rig');

const { flags, positional } = parseFlags(process.argv.slice(2));
const scenario = positional.pop() || '';
const build = process.env.OSSUP_BUILD_DIR || path.join(ROOT, 'build');
const service = flags.service || path.join(build, 'service/app/oss-upload-orchestrator');
const load = flags.load || path.join(build, 'tests/load/ossup-load');
const TICKS = 100;  // USER_HZ

// utime + stime, in ticks, from a /proc/.../stat file (of a process: all its threads).
function statTicks(file) {
  const fields = fs.readFileSync(file, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
// CPU ticks and name of every process on the machine, by pid.
function ticksByPid() {
  const byPid = {};
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      byPid[pid] = { name: fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(),
                     ticks: statTicks(`/proc/${pid}/stat`) };
    } catch { /* gone meanwhile */ }
  }
  return byPid;
}
// CPU ticks used between two ticksByPid() samples, per process name (PostgreSQL is many). Taken
// per pid, named as at the end: a kernel worker renames itself after the work queue it serves,
// so a name's total at the start is not its total at the end (one worker then showed its whole
// lifetime's ticks, 295 % of a core).
function ticksUsedByName(before, after) {
  const byName = {};
  for (const [pid, a] of Object.entries(after)) {
    byName[a.name] = (byName[a.name] || 0) + a.ticks - (before[pid] ? before[pid].ticks : 0);
  }
  return byName;
}
// CPU ticks and context switches per thread name of one process (the service names its threads);
// null once the process has exited.
function threadsOf(pid) {
  let tids;
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  const byName = {};
  for (const tid of tids) {
    const task = `/proc/${pid}/task/${tid}`;
    try {
      const name = fs.readFileSync(`${task}/comm`, 'utf8').trim();
      const st = fs.readFileSync(`${task}/status`, 'utf8');
      const e = byName[name] || (byName[name] = { ticks: 0, switches: 0, threads: 0 });
      e.ticks += statTicks(`${task}/stat`);
      e.switches += Number(st.match(/^voluntary_ctxt_switches:\s*(\d+)/m)[1]) +
        Number(st.match(/^nonvoluntary_ctxt_switches:\s*(\d+)/m)[1]);
      e.threads += 1;
    } catch { /* thread gone */ }
  }
  return byName;
}
// Context switches of all of a process's threads; NaN once it has exited.
function switchesOf(pid) {
  const threads = threadsOf(pid);
  return threads ? Object.values(threads).reduce((n, t) => n + t.switches, 0) : NaN;
}
function machineTicks() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  return { idle: f[3] + f[4], total: f.reduce((a, b) => a + b, 0) };
}
const psql = (sql) => execFileSync('psql', [process.env.DATABASE_URL, '-q', '-c', sql]).toString();
// The service's group-commit totals for `writes` ("creates" or "callbacks") from /metrics.
async function groupCommitTotals(httpUrl, writes) {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const value = (name) => {
    const m = text.match(new RegExp(`^${name}\\{writes="${writes}"\\} (\\S+)$`, 'm'));
    return m ? Number(m[1]) : 0;
  };
  return { transactions: value('ossup_group_commit_items_count'),
           items: value('ossup_group_commit_items_sum'),
           seconds: value('ossup_group_commit_duration_seconds_sum') };
}

async function main() {
  const [name, concurrency] = scenario.split('@');
  if (!['create', 'callbacks'].includes(name) || !concurrency) {
    throw new Error('usage: cpu_split.js create@C|callbacks@C [--service=BIN] [--load=BIN] ...');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ossup-cpu-'));
  const { stack, signing } = await startBenchStack(dir, {
    service, emulatorDataDir: flags['ram-disk'] ? '/dev/shm' : undefined,
  });
  try {
    const common = [`--target=${stack.grpcTarget}`, `--token=${stack.token}`, '--namespace=demo',
      `--concurrency=${concurrency}`];
    const extra = flags['load-args'] ? flags['load-args'].split(' ') : [];
    const argv = name === 'create'
      ? ['create', ...common, '--duration=10s', '--warmup=0s', ...extra]
      : ['callbacks', ...common, `--uploads=${flags.uploads || 20000}`, ...signing.loadArgs, ...extra];
    const child = spawn(load, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    let errText = '';
    const sending = new Promise((resolve) => {
      child.stderr.on('data', (d) => {
        errText += d;
        if (errText.includes('callbacks; sending\n')) resolve();
      });
    });
    const finished = new Promise((resolve) => child.on('close', resolve));
    if (name === 'callbacks') await Promise.race([sending, finished]);
    if (child.exitCode !== null) throw new Error(`the load generator ended early: ${errText.slice(-1000)}`);
    await new Promise((r) => setTimeout(r, name === 'create' ? 1000 : 300));
    const span = Number(flags.span || 8);
    if (flags['pg-stat-statements']) psql('SELECT pg_stat_statements_reset()');
    const servicePid = stack.services[0].child.pid;
    const writes = name === 'create' ? 'creates' : 'callbacks';
    const groupBefore = await groupCommitTotals(stack.httpUrl, writes);
    const before = { byPid: ticksByPid(), machine: machineTicks(), threads: threadsOf(servicePid) || {},
                     switches: [switchesOf(servicePid), switchesOf(child.pid)] };
    const t0 = Date.now();
    if (flags.perf) {
      const pid = flags['perf-emulator'] ? execFileSync('pgrep', ['-n', 'oss-emulator']).toString().trim() : String(servicePid);
      execFileSync('perf', ['record', ...String(flags.perf).split(' ').filter(Boolean), '-o', 'perf.data',
        '-p', pid, '--', 'sleep', String(span)], { stdio: 'ignore' });
    } else {
      await new Promise((r) => setTimeout(r, span * 1000));
    }
    const after = { byPid: ticksByPid(), machine: machineTicks(), threads: threadsOf(servicePid) || {},
                    switches: [switchesOf(servicePid), switchesOf(child.pid)] };
    const seconds = (Date.now() - t0) / 1000;
    const groupAfter = await groupCommitTotals(stack.httpUrl, writes);
    if (Number.isNaN(after.switches[1])) {
      throw new Error('the load generator finished before the measured span ended: raise --uploads or lower --span');
    }
    if (flags['pg-stat-statements']) {
      console.log(psql("SELECT calls, round(total_exec_time::numeric, 1) AS exec_ms, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS query FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 10"));
    }
    await finished;
    const rate = loadResult(out).throughput_per_s;
    const busy = 1 - (after.machine.idle - before.machine.idle) / (after.machine.total - before.machine.total);
    console.log(`${scenario}: ${rate.toFixed(0)}/s over the whole run, machine ${(busy * 100).toFixed(0)} % busy while measured`);
    console.log(`  context switches per operation: service ${((after.switches[0] - before.switches[0]) / seconds / rate).toFixed(2)}, ` +
      `load generator ${((after.switches[1] - before.switches[1]) / seconds / rate).toFixed(2)}`);
    const transactions = groupAfter.transactions - groupBefore.transactions;
    if (transactions > 0) {
      console.log(`  group commit: ${(transactions / seconds).toFixed(0)} transactions/s, ` +
        `${((groupAfter.items - groupBefore.items) / transactions).toFixed(1)} ${writes} and ` +
        `${((groupAfter.seconds - groupBefore.seconds) / transactions * 1e6).toFixed(0)} µs each`);
    }
    const rows = Object.entries(ticksUsedByName(before.byPid, after.byPid))
      .map(([k, ticks]) => [k, ticks / TICKS])
      .filter(([, cpu]) => cpu > 0.05)
      .sort((x, y) => y[1] - x[1]);
    for (const [k, cpu] of rows) {
      console.log(`  ${k.padEnd(24)} ${(cpu / seconds * 100).toFixed(0).padStart(4)} % of a core  ${(cpu / seconds / rate * 1e6).toFixed(1).padStart(7)} µs per operation`);
    }
    if (flags.threads) {
      console.log('  service threads:');
      const names = Object.keys(after.threads)
        .map((k) => [k, after.threads[k], before.threads[k] || { ticks: 0, switches: 0 }])
        .filter(([, a, b]) => a.ticks > b.ticks)
        .sort((x, y) => (y[1].ticks - y[2].ticks) - (x[1].ticks - x[2].ticks));
      for (const [k, a, b] of names) {
        const cpu = (a.ticks - b.ticks) / TICKS;
        console.log(`    ${k.padEnd(18)} x${String(a.threads).padEnd(3)} ${(cpu / seconds / rate * 1e6).toFixed(1).padStart(7)} µs and ` +
          `${((a.switches - b.switches) / seconds / rate).toFixed(2)} switches per operation`);
      }
    }
  } finally {
    await stack.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`cpu_split: ${err.stack || err}`);
  process.exit(1);
});
