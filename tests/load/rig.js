// What the benchmark scripts (bench.js, ab.js, cpu_split.js) share: the stack they measure, and
// running a child process to its end.
'use strict';

const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { startStack } = require('../e2e/stack');

// Writes a fresh key pair into `dir` for the load generator to sign callbacks with (as OSS
// would); returns the service's callback_keys section pinning it and the load generator's
// signing arguments.
function benchSigningKey(dir) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
  const keyPem = path.join(dir, 'bench-key.pem');
  const pubPem = path.join(dir, 'bench-pub.pem');
  fs.writeFileSync(keyPem, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  fs.writeFileSync(pubPem, publicKey.export({ type: 'spki', format: 'pem' }));
  const keyUrl = 'http://bench-keys.invalid/bench.pem';
  return {
    callbackKeys: { allowed_url_prefixes: ['http://bench-keys.invalid/'],
                    pins: [{ url: keyUrl, pem_file: pubPem }] },
    loadArgs: [`--key-pem=${keyPem}`, `--key-url=${keyUrl}`],
  };
}

// The stack every benchmark measures: the service (`service`, default this build's) pins a fresh
// key written into `dir`, which the load generator signs callbacks with (`signing.loadArgs`);
// the emulator makes no callbacks of its own and writes no log line per request.
async function startBenchStack(dir, { service, emulatorDataDir, serviceConfig } = {}) {
  const signing = benchSigningKey(dir);
  const stack = await startStack({
    ...(service ? { serviceCommand: (file) => [service, [`--config=${file}`]] } : {}),
    emulatorDataDir,
    quietEmulator: true,
    serviceConfig: { callback_keys: signing.callbackKeys, ...serviceConfig },
  });
  try {
    await fetch(`${stack.emulatorUrl}/_emulator/faults`,
      { method: 'POST', body: JSON.stringify({ callback: 'drop' }) });
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return { stack, signing };
}

// Runs `cmd` to its end; resolves with its stdout, rejects with the end of its stderr.
function run(cmd, argv, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code) => (code === 0 ? resolve(out)
      : reject(new Error(`${path.basename(cmd)} ${argv.join(' ')} exited ${code}: ${err.slice(-2000)}`))));
  });
}

// The load generator's result: the JSON on the last line of its output.
function loadResult(out) {
  return JSON.parse(out.trim().split('\n').pop());
}

module.exports = { startBenchStack, run, loadResult };
