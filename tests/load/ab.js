// A/B comparison of two builds on one durable PostgreSQL, both in every round (A B, B A, ...), so
// that drift of the machine falls on both alike (single runs on 2 shared cores vary by 10-30 %).
//
//   eval "$(PGTMP_DURABLE=1 scripts/pgtmp.sh start)"
//   node tests/load/ab.js --rounds=3 --a-service=/tmp/a/oss-upload-orchestrator \
//     --b-service=build/service/app/oss-upload-orchestrator callbacks@16 callbacks@64 create@16
//
// Scenarios: create@C (10 s after 2 s of warm-up), callbacks@C (8,000 uploads), streams (10,000).
// --a-load/--b-load pick the load generators (default: this build's); --b-ram-disk puts B's
// emulator objects on /dev/shm. Prints each result as it comes, then all as JSON.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { ROOT } = require('../e2e/stack');
const { parseFlags } = require('./flags');
const { startBenchStack, run, loadResult } = require('./rig');

const { flags, positional: scenarios } = parseFlags(process.argv.slice(2));
const rounds = Number(flags.rounds || 3);
const defaultLoad = path.join(process.env.OSSUP_BUILD_DIR || path.join(ROOT, 'build'), 'tests/load/ossup-load');

async function main() {
  if (!flags['a-service'] || !flags['b-service'] || scenarios.length === 0) {
    throw new Error('usage: ab.js --a-service=BIN --b-service=BIN [--rounds=N] scenario@C...');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ossup-ab-'));
  const results = { A: {}, B: {} };
  try {
    for (let r = 0; r < rounds; r++) {
      // A B, then B A: what comes first in a round (a cold database, say) falls on both.
      for (const v of r % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
        const lower = v.toLowerCase();
        const service = flags[`${lower}-service`];
        const load = flags[`${lower}-load`] || defaultLoad;
        const { stack, signing } = await startBenchStack(dir, {
          service, emulatorDataDir: flags[`${lower}-ram-disk`] ? '/dev/shm' : undefined,
        });
        try {
          for (const s of scenarios) {
            const [name, c] = s.split('@');
            const common = [`--target=${stack.grpcTarget}`, `--token=${stack.token}`, '--namespace=demo'];
            const argv = {
              create: ['create', ...common, `--concurrency=${c}`, '--duration=10s', '--warmup=2s'],
              callbacks: ['callbacks', ...common, `--concurrency=${c}`, '--uploads=8000', ...signing.loadArgs],
              streams: ['streams', ...common, '--streams=10000', `--service-pid=${stack.services[0].child.pid}`, ...signing.loadArgs],
            }[name];
            if (!argv) throw new Error(`unknown scenario ${s}`);
            const out = loadResult(await run(load, argv));
            const value = Math.round(name === 'streams' ? out.fanout_ms : out.throughput_per_s);
            (results[v][s] ||= []).push(value);
            console.error(`round ${r + 1} ${v} ${s}: ${value}${name === 'streams' ? ' ms' : '/s'}`);
          }
        } finally {
          await stack.stop();
        }
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify(results));
}

main().catch((err) => {
  console.error(`ab: ${err.stack || err}`);
  process.exit(1);
});
