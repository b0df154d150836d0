// gRPC over TLS with a client-certificate check: certificates made with the openssl CLI, the
// service configured with them, grpc-js as the client. A client with a certificate from the
// trusted CA works; one without a certificate, or with one from another CA, is refused; bearer
// tokens are still required.
'use strict';

const { loadOrSkip, requireDatabaseOrSkip, tally } = require('../js/harness');

const grpc = loadOrSkip('@grpc/grpc-js');
const protoLoader = loadOrSkip('@grpc/proto-loader');
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { startStack, uploadClient } = require('./stack');

requireDatabaseOrSkip();

const t = tally('tls');
const check = t.check;

// A CA, a certificate it signs (server: SAN localhost/127.0.0.1; or client), as PEM files.
function makeCerts(dir) {
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ca = (name) => {
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`,
        '-days', '1', '-subj', `/CN=${name}`);
  };
  const leaf = (name, caName, ext) => {
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`,
        '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`);
  };
  ca('ca');
  ca('other-ca');
  leaf('server', 'ca', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'ca', 'extendedKeyUsage=clientAuth\n');
  leaf('stranger', 'other-ca', 'extendedKeyUsage=clientAuth\n');
  const read = (f) => fs.readFileSync(path.join(dir, f));
  return { read };
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ossup-tls-'));
  const { read } = makeCerts(dir);
  const stack = await startStack({
    grpcTls: { tls_cert_file: path.join(dir, 'server.crt'), tls_key_file: path.join(dir, 'server.key'),
               tls_client_ca_file: path.join(dir, 'ca.crt') },
  });
  const get = (client, md) => new Promise((resolve) =>
    client.ListUploads({ parent: 'namespaces/acme' }, md, { deadline: Date.now() + 5000 },
      (err, res) => resolve({ err, res })));
  const clients = [];
  // The certificate names localhost; an IP as TLS server name is not allowed (RFC 6066).
  const target = stack.grpcTarget.replace('127.0.0.1', 'localhost');
  try {
    const good = uploadClient(grpc, protoLoader, target, stack.token,
      grpc.credentials.createSsl(read('ca.crt'), read('client.key'), read('client.crt')));
    clients.push(good);
    const ok = await get(good, good.md());
    check('a client with a certificate from the trusted CA is served over TLS', !ok.err, ok.err?.message);
    const noToken = await get(good, good.md(null));
    check('TLS does not replace the bearer token', noToken.err?.code === grpc.status.UNAUTHENTICATED);

    const anonymous = uploadClient(grpc, protoLoader, target, stack.token,
      grpc.credentials.createSsl(read('ca.crt')));
    clients.push(anonymous);
    const r1 = await get(anonymous, anonymous.md());
    check('a client without a certificate is refused', r1.err?.code === grpc.status.UNAVAILABLE, r1.err?.message);

    const stranger = uploadClient(grpc, protoLoader, target, stack.token,
      grpc.credentials.createSsl(read('ca.crt'), read('stranger.key'), read('stranger.crt')));
    clients.push(stranger);
    const r2 = await get(stranger, stranger.md());
    check('a client certificate from another CA is refused', r2.err?.code === grpc.status.UNAVAILABLE, r2.err?.message);

    const plaintext = uploadClient(grpc, protoLoader, target, stack.token);
    clients.push(plaintext);
    const r3 = await get(plaintext, plaintext.md());
    check('plaintext gRPC is refused on the TLS port', !!r3.err, 'plaintext call succeeded');

    // uploadctl's connection options against the same port.
    const uploadctl = path.join(process.env.OSSUP_BUILD_DIR || path.join(__dirname, '../../build'), 'client/uploadctl');
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, `${stack.token}\n`);
    const ctl = (...args) => {
      try {
        return { code: 0, out: execFileSync(uploadctl, ['list', '-n', 'acme', `--target=${target}`,
          `--token-file=${tokenFile}`, '--timeout=5s', ...args], { stdio: 'pipe' }).toString() };
      } catch (err) {
        return { code: err.status, out: `${err.stdout}${err.stderr}` };
      }
    };
    const p = (f) => path.join(dir, f);
    let r = ctl(`--tls-ca=${p('ca.crt')}`, `--tls-cert=${p('client.crt')}`, `--tls-key=${p('client.key')}`);
    check('uploadctl with --tls-ca, --tls-cert and --tls-key is served', r.code === 0 && r.out.includes('NAME'), r.out);
    r = ctl(`--tls-ca=${p('ca.crt')}`);
    check('uploadctl without its client certificate is refused (exit 4)', r.code === 4, r.out);
    r = ctl();
    check('uploadctl in plaintext against the TLS port fails', r.code === 4, r.out);
    r = ctl(`--tls-ca=${p('ca.crt')}`, `--tls-cert=${p('client.crt')}`);
    check('a certificate without its key is a usage error', r.code === 2 && r.out.includes('both'), r.out);
    r = ctl(`--tls-ca=${p('other-ca.crt')}`, `--tls-cert=${p('client.crt')}`, `--tls-key=${p('client.key')}`);
    check('a server certificate from an untrusted CA is refused', r.code === 4, r.out);
  } finally {
    for (const c of clients) c.close();
    await stack.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main()
  .catch((err) => t.fail(`unexpected error: ${err.stack}`))
  .finally(() => t.finish());
