// The checks of deploy/docker/smoke-test.sh, which builds the image and sets the environment:
// OSSUP_IMAGE, OSSUP_CONTAINER (the name to run it under), DOCKER_CLI, DATABASE_URL, NODE_PATH.
// The service runs in the container as a cluster would run it (read-only root, no capabilities,
// uid 10001, configuration and secrets mounted read-only at /etc/ossup), on the host network
// against the emulator and PostgreSQL of the host.
'use strict';

const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { loadOrSkip, requireDatabaseOrSkip, tally } = require('../../tests/js/harness');
const { startStack, ROOT } = require('../../tests/e2e/stack');

const grpc = loadOrSkip('@grpc/grpc-js');
const protoLoader = loadOrSkip('@grpc/proto-loader');
requireDatabaseOrSkip();

const image = process.env.OSSUP_IMAGE;
const name = process.env.OSSUP_CONTAINER;
const [dockerCmd, ...dockerPre] = (process.env.DOCKER_CLI || 'docker').split(' ');
const docker = (...args) => spawnSync(dockerCmd, [...dockerPre, ...args], { encoding: 'utf8' });
const { check, fail, finish } = tally('docker');

// Every relative path ending in _file in the service's configuration: the files to mount beside it.
function referencedFiles(value, out = []) {
  for (const [key, v] of Object.entries(value)) {
    if (typeof v === 'object' && v !== null) referencedFiles(v, out);
    else if (key.endsWith('_file') && typeof v === 'string' && v !== '') out.push(v);
  }
  return out;
}

function runInContainer(file) {
  const dir = path.dirname(file);
  const mounts = [`${file}:/etc/ossup/config.json:ro`];
  for (const rel of referencedFiles(JSON.parse(fs.readFileSync(file, 'utf8')))) {
    mounts.push(`${path.join(dir, rel)}:${path.posix.join('/etc/ossup', rel)}:ro`);
  }
  return [dockerCmd, [...dockerPre, 'run', '--rm', '--name', name, '--network=host', '--read-only',
    '--tmpfs', '/tmp', '--cap-drop=ALL', '--security-opt', 'no-new-privileges', '--user', '10001',
    ...mounts.flatMap((m) => ['-v', m]), image]];
}

function healthStatus(target, service) {
  const protoDir = execFileSync('dpkg', ['-L', 'grpc-proto'], { encoding: 'utf8' })
    .split('\n').find((p) => p.endsWith('/grpc/health/v1/health.proto'));
  const def = protoLoader.loadSync(protoDir, { enums: String });
  const Health = grpc.loadPackageDefinition(def).grpc.health.v1.Health;
  const client = new Health(target, grpc.credentials.createInsecure());
  return new Promise((resolve) => client.Check({ service }, { deadline: Date.now() + 5000 },
    (err, res) => { client.close(); resolve(err ? err.message : res.status); }));
}

// The image itself, from a container with nothing mounted. Certificates (*.pem, such as gRPC's
// roots.pem) are public; private keys are found by their PEM header instead.
function checkImage() {
  const info = JSON.parse(docker('image', 'inspect', image).stdout)[0];
  const config = info.Config;
  check('the image runs as user 10001', config.User === '10001', config.User);
  check('the image configuration path is /etc/ossup/config.json',
        config.Env.includes('OSSUP_CONFIG=/etc/ossup/config.json'), config.Env.join(' '));
  const secretEnv = config.Env.filter((e) => /PASSWORD|SECRET|TOKEN|_KEY=|CREDENTIAL/i.test(e));
  check('no secret-looking environment variables in the image', secretEnv.length === 0,
        secretEnv.join(' '));
  const scan = docker('run', '--rm', '--network=host', '--user', '10001', '--entrypoint', '/bin/sh',
    image, '-c', `
      find / -xdev -type f \\( -name '*.key' -o -name '*.p12' -o -name '*.pfx' -o -name 'id_rsa*' \\
        -o -name 'id_ecdsa*' -o -name 'id_ed25519*' -o -name '*.secret' -o -name '*.token' \\
        -o -name '*-token' -o -name '.env' -o -name '.netrc' -o -name '.pgpass' \\
        -o -name '.git-credentials' -o -name 'credentials' -o -name 'credentials.json' \\
        -o -name 'callers.json' -o -name 'config.json' \\) 2>/dev/null
      grep -rlIE -- '-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----' / --exclude-dir=proc \\
        --exclude-dir=sys --exclude-dir=dev 2>/dev/null
      true`);
  check('no secret-looking files in the image', scan.status === 0 && scan.stdout.trim() === '',
        scan.stdout.trim().replace(/\n/g, ' ') || scan.stderr);
  console.log(`image size: ${(info.Size / 1e6).toFixed(0)} MB`);
}

// uid, capabilities and no_new_privs of the service process as the host kernel sees them.
function checkProcess() {
  const pid = docker('inspect', '-f', '{{.State.Pid}}', name).stdout.trim();
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (key) => (status.match(new RegExp(`^${key}:\\s*(.*)$`, 'm')) || [])[1];
  check('the service process runs as uid and gid 10001',
        field('Uid') === '10001\t10001\t10001\t10001' && field('Gid') === '10001\t10001\t10001\t10001',
        `Uid ${field('Uid')} Gid ${field('Gid')}`);
  check('the service process has no capabilities and no_new_privs',
        /^0+$/.test(field('CapEff')) && /^0+$/.test(field('CapPrm')) && field('NoNewPrivs') === '1',
        `CapEff ${field('CapEff')} NoNewPrivs ${field('NoNewPrivs')}`);
  const write = docker('exec', name, '/bin/sh', '-c', 'touch /probe');
  check('the root file system is read-only',
        write.status !== 0 && /read-only file system/i.test(write.stderr), write.stderr);
}

async function main() {
  checkImage();
  let stack;
  try {
    stack = await startStack({ serviceCommand: runInContainer });
    checkProcess();
    for (const service of ['', 'ossup.upload.v1.UploadService']) {
      const status = await healthStatus(stack.grpcTarget, service);
      check(`gRPC health of '${service}' is SERVING`, status === 'SERVING', status);
    }
    const ready = spawnSync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5',
      `${stack.httpUrl}/readyz`], { encoding: 'utf8' });
    check('/readyz answers 200', ready.stdout === '200', ready.stdout + ready.stderr);

    const file = path.join(stack.dir, 'smoke.png');
    fs.writeFileSync(file, Buffer.alloc(64 * 1024, 7));
    const upload = spawnSync(path.join(ROOT, 'build/client/uploadctl'),
      ['upload', '--progress=none', '--wait-timeout=30s', file], {
        encoding: 'utf8',
        env: { ...process.env, OSSUP_TARGET: stack.grpcTarget, OSSUP_TOKEN: stack.token,
               OSSUP_NAMESPACE: 'acme' },
      });
    check('uploadctl upload completes through the emulator and the container', upload.status === 0,
          `exit ${upload.status}: ${upload.stdout}${upload.stderr}`);
  } catch (err) {
    fail(err.stack);
  } finally {
    if (stack) await stack.stop();
  }
  check('the container stopped on SIGTERM and was removed',
        docker('container', 'inspect', name).status !== 0);
  finish();
}

main().catch((err) => {
  fail(err.stack);
  finish();
});
