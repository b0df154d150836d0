// Starts the local stack for e2e tests and the demo: a fresh database on the PostgreSQL at
// DATABASE_URL, the OSS emulator, and the service configured against both. Each process on an
// ephemeral port; everything is stopped and removed by stop().
'use strict';

const { spawn, execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '../..');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

// Starts a process and resolves once stdout printed every line matching `patterns` (each with
// one numeric group, e.g. a port). `env` replaces the environment when given.
function startProcess(name, cmd, args, patterns, logFile, env = process.env) {
  return new Promise((resolve, reject) => {
    const log = fs.openSync(logFile, 'a');
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', log], env });
    child.on('error', (err) => reject(new Error(`${name}: cannot start ${cmd}: ${err.message}`)));
    const found = {};
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within 30 s; see ${logFile}`));
    }, 30000);
    child.stdout.on('data', (chunk) => {
      out += chunk.toString();
      for (const [key, re] of Object.entries(patterns)) {
        const m = out.match(re);
        if (m) found[key] = Number(m[1]);
      }
      if (Object.keys(found).length === Object.keys(patterns).length) {
        clearTimeout(timer);
        resolve({ child, ports: found });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before starting; see ${logFile}`));
    });
  });
}

function stopProcess(child) {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10000).unref();
  });
}

async function startStack(options = {}) {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is not set (tests/run.sh starts PostgreSQL)');
  const build = options.buildDir || process.env.OSSUP_BUILD_DIR || path.join(ROOT, 'build');
  const emulatorBin = path.join(build, 'tests/emulator/oss-emulator');
  const serviceBin = path.join(build, 'service/app/oss-upload-orchestrator');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ossup-stack-'));
  const log = path.join(dir, 'stack.log');

  // A database of its own, so runs never see each other's rows.
  const dbName = `ossup_e2e_${crypto.randomBytes(6).toString('hex')}`;
  execFileSync('psql', [databaseUrl, '-q', '-c', `CREATE DATABASE ${dbName}`]);
  const url = new URL(databaseUrl);
  url.pathname = `/${dbName}`;

  const bucket = 'media';
  const accessKeyId = 'LTAI-local-stack';
  const secret = crypto.randomBytes(18).toString('base64');
  fs.writeFileSync(path.join(dir, 'emulator.json'), JSON.stringify({
    default_bucket: bucket,
    buckets: [{
      name: bucket, region: 'cn-hangzhou',
      credentials: [{ access_key_id: accessKeyId, access_key_secret: secret }],
      cors: options.cors || [{ allowed_origins: ['*'], allowed_methods: ['POST', 'GET', 'HEAD'],
                               allowed_headers: ['*'], expose_headers: ['ETag', 'x-oss-request-id'],
                               max_age_seconds: 600 }],
    }],
  }));
  // options.quietEmulator: no log line per request. The benchmarks set it: the line's formatting
  // and write cost the emulator about 15 % of its CPU per HeadObject, on the cores the service and
  // PostgreSQL share (OSS itself runs elsewhere).
  // options.emulatorDataDir: where the emulator keeps objects (a folder of its own is made there;
  // the benchmark uses a RAM disk, so writing objects back to disk does not take the cores).
  const ossData = options.emulatorDataDir
    ? fs.mkdtempSync(path.join(options.emulatorDataDir, 'ossup-oss-data-')) : path.join(dir, 'oss-data');
  const emulator = await startProcess('oss-emulator', emulatorBin, [
    '--listen=127.0.0.1:0', `--data_dir=${ossData}`,
    `--config=${path.join(dir, 'emulator.json')}`,
    ...(options.quietEmulator ? ['--log_requests=false'] : []),
  ], { port: /oss-emulator listening on 127\.0\.0\.1:(\d+)/ }, log);
  const emuPort = emulator.ports.port;

  const token = crypto.randomBytes(24).toString('hex');
  fs.writeFileSync(path.join(dir, 'callers.json'), JSON.stringify({
    callers: [{ name: 'local-backend',
                token_sha256: crypto.createHash('sha256').update(token).digest('hex'),
                namespaces: ['acme', 'demo'] }],
  }));
  fs.writeFileSync(path.join(dir, 'token.key'), crypto.randomBytes(32).toString('hex'));
  fs.writeFileSync(path.join(dir, 'bucket.secret'), secret);
  // One config per replica: each calls OSS back on its own HTTP port; all share the database.
  async function writeServiceConfig(i) {
    const httpPort = await freePort();
    const file = path.join(dir, `service-${i}.json`);
    fs.writeFileSync(file, JSON.stringify({
      grpc: { listen: '127.0.0.1:0', ...(options.grpcTls || {}) },
      http: { listen: `127.0.0.1:${httpPort}`, callback_path: '/oss/callback' },
      database: { url: url.toString(), pool_size: 8 },
      callers_file: 'callers.json',
      token_key_file: 'token.key',
      callback: { urls: [`http://127.0.0.1:${httpPort}/oss/callback`],
                  body_type: options.callbackBodyType || 'json' },
      buckets: [{ name: bucket, region: 'cn-hangzhou', scheme: 'http',
                  endpoint_host: `127.0.0.1:${emuPort}`, virtual_hosted: false,
                  access_key_id: accessKeyId, access_key_secret_file: 'bucket.secret' }],
      // The emulator signs callbacks with its own key, served over http on loopback: allowed
      // here only because this is a local stack. Production pins OSS's key and fetches nothing.
      callback_keys: { allowed_url_prefixes: [`http://127.0.0.1:${emuPort}/`],
                       fetch_unpinned: true, allow_insecure_fetch: true },
      limits: { default_ttl_seconds: 600 },
      ...(options.serviceConfig || {}),
    }));
    return file;
  }
  // options.serviceCommand(file) => [cmd, args] runs the service another way (in a container).
  // options.serviceArgs are added to the default command (e.g. ['--role=grpc']).
  const serviceCommand = options.serviceCommand
    || ((file) => [serviceBin, [`--config=${file}`, ...(options.serviceArgs || [])]]);
  const startService = async (file) => {
    const started = await startProcess('oss-upload-orchestrator', ...serviceCommand(file),
      { grpc: /ossup grpc listening on 127\.0\.0\.1:(\d+)/,
        http: /ossup http listening on 127\.0\.0\.1:(\d+)/ }, log);
    return { child: started.child, file,
             grpcTarget: `127.0.0.1:${started.ports.grpc}`,
             httpUrl: `http://127.0.0.1:${started.ports.http}` };
  };
  const services = [];
  try {
    for (let i = 0; i < (options.replicas || 1); i++) {
      // The HTTP port is chosen before the start (the callback URL names it), so another process
      // may take it in between (outgoing connections use the same port range): then try another.
      for (let attempt = 1; ; attempt++) {
        const logSize = fs.statSync(log).size;
        try {
          services.push(await startService(await writeServiceConfig(i)));
          break;
        } catch (err) {
          const tail = fs.readFileSync(log, 'utf8').slice(logSize);
          if (attempt >= 3 || !/cannot listen on .*Address already in use/.test(tail)) throw err;
        }
      }
    }
  } catch (err) {
    // Leave nothing behind: started replicas, the emulator, the database; the logs stay.
    for (const svc of services) await stopProcess(svc.child);
    await stopProcess(emulator.child);
    try { execFileSync('psql', [databaseUrl, '-q', '-c', `DROP DATABASE ${dbName}`]); } catch (e) { /* best effort */ }
    if (options.emulatorDataDir) fs.rmSync(ossData, { recursive: true, force: true });  // RAM
    throw err;
  }

  return {
    dir, log, token, bucket, dbName,
    emulatorUrl: `http://127.0.0.1:${emuPort}`,
    services,
    grpcTarget: services[0].grpcTarget,
    httpUrl: services[0].httpUrl,
    async stop() {
      for (const svc of services) await stopProcess(svc.child);
      await stopProcess(emulator.child);
      try { execFileSync('psql', [databaseUrl, '-q', '-c', `DROP DATABASE ${dbName}`]); } catch (e) { /* best effort */ }
      if (!options.keep) {
        fs.rmSync(dir, { recursive: true, force: true });
        if (options.emulatorDataDir) fs.rmSync(ossData, { recursive: true, force: true });
      }
    },
    // Restarts replica 0 with the same configuration: the same HTTP port, and a new gRPC port
    // unless sameGrpcPort (what a client reconnecting to one address needs). whileDown, if given,
    // is awaited between the stop and the start.
    async restartService({ sameGrpcPort = false, whileDown = null } = {}) {
      await stopProcess(services[0].child);
      if (whileDown) await whileDown();
      if (sameGrpcPort) {
        const config = JSON.parse(fs.readFileSync(services[0].file, 'utf8'));
        config.grpc.listen = services[0].grpcTarget;
        fs.writeFileSync(services[0].file, JSON.stringify(config));
      }
      services[0] = await startService(services[0].file);
      this.grpcTarget = services[0].grpcTarget;
    },
  };
}

// A grpc-js client of ossup.upload.v1. grpc-js sends no call credentials over an insecure
// channel, so the bearer token goes in each call's metadata: client.md().
function uploadClient(grpc, protoLoader, target, token, channelCredentials) {
  const def = protoLoader.loadSync(path.join(ROOT, 'proto/ossup/upload/v1/upload_service.proto'), {
    keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
    includeDirs: [path.join(ROOT, 'proto')],
  });
  const pkg = grpc.loadPackageDefinition(def);
  const client = new pkg.ossup.upload.v1.UploadService(
    target, channelCredentials || grpc.credentials.createInsecure());
  client.md = (bearer = token) => {
    const md = new grpc.Metadata();
    if (bearer !== null) md.set('authorization', `Bearer ${bearer}`);
    return md;
  };
  return client;
}

// POSTs a PostForm as a browser does: fields in order, client fields, then the file.
async function postForm(form, fileBytes, fileType, clientValues = {}, overrides = {}) {
  const fd = new FormData();
  for (const f of form.fields) fd.append(f.name, overrides[f.name] ?? f.value);
  for (const name of form.client_fields) fd.append(name, clientValues[name] ?? fileType);
  fd.append(form.file_field, new Blob([fileBytes], { type: fileType }), 'photo.png');
  const res = await fetch(form.url, { method: 'POST', body: fd });
  return { status: res.status, body: await res.text() };
}

module.exports = { startStack, uploadClient, postForm, startProcess, stopProcess, ROOT };
