// Cross-check: requests signed by the OFFICIAL ali-oss npm client (pinned in tests/npm) must be
// accepted by our independent oss-emulator, and tampered ones refused.
// Usage: node alioss_emulator_test.js <oss-emulator binary>
// NODE_PATH must point at the node_modules installed by scripts/npm-deps.sh.
// Exit 77 = ali-oss is not installed (skip), unless OSSUP_REQUIRE_ORACLE=1 (then fail).
'use strict';

const { loadOrSkip } = require('../js/harness');

const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');


const OSS = loadOrSkip('ali-oss');
const signUtils = loadOrSkip('ali-oss/lib/common/signUtils');
const { policy2Str } = loadOrSkip('ali-oss/lib/common/utils/policy2Str');

const BUCKET = 'examplebucket';
const REGION = 'cn-hangzhou';
const AK = 'ak';
const SK = 'sk';
const STS_AK = 'STS.ak';
const STS_SK = 'stssk';
const STS_TOKEN = 'token-123';

const emulatorBinary = process.argv[2];
if (!emulatorBinary) {
  console.error('usage: node alioss_emulator_test.js <oss-emulator binary>');
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Emulator process

let emulator = null;
let emulatorStderr = '';
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alioss-emu-'));

function stopEmulator() {
  if (emulator && emulator.exitCode === null && emulator.signalCode === null) {
    emulator.kill('SIGTERM');
  }
}
process.on('exit', () => {
  stopEmulator();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

function startEmulator() {
  const config = {
    default_bucket: BUCKET,
    buckets: [
      {
        name: BUCKET,
        region: REGION,
        acl: 'private',
        credentials: [
          { access_key_id: AK, access_key_secret: SK },
          {
            access_key_id: STS_AK,
            access_key_secret: STS_SK,
            security_token: STS_TOKEN,
            expires_at: '2099-01-01T00:00:00Z',
          },
        ],
      },
    ],
  };
  const configPath = path.join(tmpDir, 'emu.json');
  fs.writeFileSync(configPath, JSON.stringify(config));
  const dataDir = path.join(tmpDir, 'data');
  fs.mkdirSync(dataDir);

  emulator = spawn(
    emulatorBinary,
    ['--listen=127.0.0.1:0', `--data_dir=${dataDir}`, `--config=${configPath}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  emulator.stderr.on('data', d => {
    emulatorStderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`emulator did not start: ${out}${emulatorStderr}`)), 15000);
    emulator.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`emulator exited early (code ${code}, signal ${sig}): ${emulatorStderr}`));
    });
    emulator.stdout.on('data', d => {
      out += d.toString();
      const m = out.match(/oss-emulator listening on 127\.0\.0\.1:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Checks

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    const detail = await fn();
    passed++;
    console.log(`PASS ${name}${detail ? ` (${detail})` : ''}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err.message}`);
  }
}
function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}
function xmlField(xml, tag) {
  const m = String(xml).match(new RegExp(`<${tag}>([^<]*)</${tag}>`));
  return m ? m[1] : undefined;
}
// Runs an ali-oss call that must fail; returns the error (ali-oss parses Code from the XML body).
async function expectOssError(promise, status, code) {
  let err = null;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${status} ${code}, the request succeeded`);
  expect(err.status === status && err.code === code,
    `expected ${status} ${code}, got ${err.status} ${err.code} (${err.message})`);
  return `${err.status} ${err.code}`;
}

function makeClient(port, opts = {}) {
  // ali-oss warns about STS refresh settings whenever stsToken is set; noise here.
  const warn = console.warn;
  console.warn = () => {};
  try {
    return new OSS({
      // Endpoint-style region; ali-oss strips "oss-" for the V4 scope (getStandardRegion).
      region: `oss-${REGION}`,
      accessKeyId: AK,
      accessKeySecret: SK,
      bucket: BUCKET,
      // An IP endpoint: getReqUrl never prepends the bucket to an IP host (cname makes that
      // explicit) and createRequest sends "Host: examplebucket.oss-cn-hangzhou.aliyuncs.com",
      // which the emulator maps to the bucket by its first label.
      endpoint: `http://127.0.0.1:${port}`,
      cname: true,
      secure: false,
      authorizationV4: true,
      timeout: 10000,
      ...opts,
    });
  } finally {
    console.warn = warn;
  }
}

// x-oss-date for a Date, computed independently of ali-oss (yyyymmddTHHMMssZ, UTC).
function ossDate(date) {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

// Multipart PostObject; fields in the given order, the file last.
async function postForm(port, fields, content, filename = 'upload.bin') {
  const form = new FormData();
  for (const [k, v] of fields) form.append(k, v);
  form.append('file', new Blob([content], { type: 'application/octet-stream' }), filename);
  const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: form });
  const body = await res.text();
  return { status: res.status, body, headers: res.headers };
}
async function expectPostError(port, fields, content, status, code) {
  const r = await postForm(port, fields, content);
  const got = xmlField(r.body, 'Code');
  expect(r.status === status && got === code,
    `expected ${status} ${code}, got ${r.status} ${got}: ${r.body.trim()}`);
  return `${r.status} ${got}`;
}

function v4PostFields(client, key, { maxSize = 1024, tamper = null, formKey = key, stsToken } = {}) {
  const now = new Date();
  const xOssDate = ossDate(now);
  const credential = signUtils.getCredential(xOssDate.slice(0, 8), REGION, client.options.accessKeyId);
  const conditions = [
    { bucket: BUCKET },
    { 'x-oss-signature-version': 'OSS4-HMAC-SHA256' },
    { 'x-oss-credential': credential },
    { 'x-oss-date': xOssDate },
    ['content-length-range', 1, maxSize],
    ['eq', '$key', key],
  ];
  if (stsToken) conditions.push({ 'x-oss-security-token': stsToken });
  const policy = {
    expiration: new Date(now.getTime() + 10 * 60 * 1000).toISOString(),
    conditions,
  };
  const signature = client.signPostObjectPolicyV4(policy, now);
  // The same serialization signPostObjectPolicyV4 signs.
  let policyJson = policy2Str(policy);
  if (tamper) policyJson = tamper(policyJson);
  const fields = [
    ['key', formKey],
    ['policy', Buffer.from(policyJson, 'utf8').toString('base64')],
    ['x-oss-signature-version', 'OSS4-HMAC-SHA256'],
    ['x-oss-credential', credential],
    ['x-oss-date', xOssDate],
  ];
  if (stsToken) fields.push(['x-oss-security-token', stsToken]);
  fields.push(['x-oss-signature', signature], ['success_action_status', '204']);
  return fields;
}

function v1PostFields(client, key, { maxSize = 1024, tamper = null } = {}) {
  const policy = {
    expiration: new Date(Date.now() + 10 * 60 * 1000).toISOString(),
    conditions: [{ bucket: BUCKET }, ['content-length-range', 1, maxSize], ['eq', '$key', key]],
  };
  const signed = client.calculatePostSignature(policy);
  let policyB64 = signed.policy;
  if (tamper) {
    policyB64 = Buffer.from(tamper(Buffer.from(policyB64, 'base64').toString('utf8')), 'utf8').toString('base64');
  }
  return [
    ['key', key],
    ['OSSAccessKeyId', signed.OSSAccessKeyId],
    ['policy', policyB64],
    ['Signature', signed.Signature],
    ['success_action_status', '201'],
  ];
}

// One byte of the signed policy changed: the content-length-range max 1024 -> 1025.
const tamperOneByte = json => {
  const out = json.replace('1024]', '1025]');
  if (out === json || out.length !== json.length) throw new Error('tamper did not change one byte');
  return out;
};

async function main() {
  const port = await startEmulator();
  console.log(`emulator on 127.0.0.1:${port}`);
  const client = makeClient(port);

  // --- V4 header auth: put / head / get / delete -------------------------------------------
  const objects = [
    ['dir/plain.bin', crypto.randomBytes(3000)],
    ['dir/中文 file+1.txt', 'héllo wörld ✓ 中文内容\n'],
  ];
  for (const [key, content] of objects) {
    const bytes = Buffer.from(content);
    const md5hex = crypto.createHash('md5').update(bytes).digest('hex');
    let putEtag;
    await check(`v4 put ${JSON.stringify(key)} (${Buffer.isBuffer(content) ? 'Buffer' : 'string'})`, async () => {
      const r = await client.put(key, Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8'));
      expect(r.res.status === 200, `status ${r.res.status}`);
      putEtag = r.res.headers.etag;
      return `200 etag ${putEtag}`;
    });
    await check(`v4 head ${JSON.stringify(key)}: content-length and etag`, async () => {
      const r = await client.head(key);
      expect(r.status === 200, `status ${r.status}`);
      const len = Number(r.res.headers['content-length']);
      expect(len === bytes.length, `content-length ${len}, want ${bytes.length}`);
      const etag = String(r.res.headers.etag || '').replace(/"/g, '').toLowerCase();
      expect(etag === md5hex, `etag ${r.res.headers.etag}, want md5 ${md5hex}`);
      expect(!putEtag || r.res.headers.etag === putEtag, `head etag ${r.res.headers.etag} != put etag ${putEtag}`);
      return `${len} bytes, etag ${etag}`;
    });
    await check(`v4 get ${JSON.stringify(key)}: content equals`, async () => {
      const r = await client.get(key);
      expect(r.res.status === 200, `status ${r.res.status}`);
      expect(Buffer.compare(Buffer.from(r.content), bytes) === 0, 'content differs');
    });
    await check(`v4 delete ${JSON.stringify(key)}`, async () => {
      const r = await client.delete(key);
      expect(r.res.status === 204, `status ${r.res.status}`);
    });
    await check(`v4 head ${JSON.stringify(key)} after delete -> 404`, async () => {
      let err = null;
      try {
        await client.head(key);
      } catch (e) {
        err = e;
      }
      expect(err && err.status === 404, `expected 404, got ${err ? err.status : 'success'}`);
      return `404 ${err.code}`;
    });
  }

  // V1 header auth ("Authorization: OSS ak:sig", authorizationV4: false) is deliberately NOT
  // checked: tests/emulator/README.md lists V1 header signatures as not implemented.

  // --- STS credential over V4 header auth ----------------------------------------------------
  const stsClient = makeClient(port, { accessKeyId: STS_AK, accessKeySecret: STS_SK, stsToken: STS_TOKEN });
  await check('v4 put/head/delete with an STS credential and its token', async () => {
    const key = 'sts/object.txt';
    const put = await stsClient.put(key, Buffer.from('sts'));
    expect(put.res.status === 200, `put status ${put.res.status}`);
    const head = await stsClient.head(key);
    expect(head.status === 200, `head status ${head.status}`);
    const del = await stsClient.delete(key);
    expect(del.res.status === 204, `delete status ${del.res.status}`);
  });

  // --- POST policy signed by ali-oss -----------------------------------------------------------
  await check('v4 POST policy signed by signPostObjectPolicyV4 -> 204, object exists', async () => {
    const key = 'post/v4 中文+1.txt';
    const content = Buffer.from('posted with a V4 form signature\n');
    const r = await postForm(port, v4PostFields(client, key), content);
    expect(r.status === 204, `status ${r.status}: ${r.body.trim()}`);
    const head = await client.head(key);
    expect(Number(head.res.headers['content-length']) === content.length, 'content-length differs');
    const got = await client.get(key);
    expect(Buffer.compare(Buffer.from(got.content), content) === 0, 'content differs');
    return `204, head ${head.status}`;
  });
  await check('v4 POST with an STS credential and x-oss-security-token -> 204', async () => {
    const key = 'post/v4-sts.txt';
    const r = await postForm(port, v4PostFields(stsClient, key, { stsToken: STS_TOKEN }), 'sts form');
    expect(r.status === 204, `status ${r.status}: ${r.body.trim()}`);
    const head = await client.head(key);
    expect(head.status === 200, `head ${head.status}`);
  });
  await check('v1 POST policy signed by calculatePostSignature -> 201, object exists', async () => {
    const key = 'post/v1 中文+1.txt';
    const content = Buffer.from('posted with a V1 form signature\n');
    const r = await postForm(port, v1PostFields(client, key), content);
    expect(r.status === 201, `status ${r.status}: ${r.body.trim()}`);
    expect(xmlField(r.body, 'Key') === key, `PostResponse Key ${xmlField(r.body, 'Key')}`);
    const head = await client.head(key);
    expect(Number(head.res.headers['content-length']) === content.length, 'content-length differs');
    return `201, head ${head.status}`;
  });

  // --- Tampered requests -----------------------------------------------------------------------
  await check('tampered: v4 policy with one byte changed after signing -> 403 SignatureDoesNotMatch', async () => {
    const key = 'tamper/v4-policy.txt';
    const res = await expectPostError(port, v4PostFields(client, key, { tamper: tamperOneByte }), 'x', 403,
      'SignatureDoesNotMatch');
    await expectOssError(client.head(key), 404, 'NoSuchKey');
    return res;
  });
  await check('tampered: v1 policy with one byte changed after signing -> 403 SignatureDoesNotMatch', async () => {
    const key = 'tamper/v1-policy.txt';
    const res = await expectPostError(port, v1PostFields(client, key, { tamper: tamperOneByte }), 'x', 403,
      'SignatureDoesNotMatch');
    await expectOssError(client.head(key), 404, 'NoSuchKey');
    return res;
  });
  await check('tampered: v4 form key differs from the policy eq $key -> 403 AccessDenied', async () => {
    const fields = v4PostFields(client, 'tamper/allowed.txt', { formKey: 'tamper/other.txt' });
    const res = await expectPostError(port, fields, 'x', 403, 'AccessDenied');
    await expectOssError(client.head('tamper/other.txt'), 404, 'NoSuchKey');
    return res;
  });
  await check('tampered: v4 put signed with the wrong secret -> 403 SignatureDoesNotMatch', async () => {
    const bad = makeClient(port, { accessKeySecret: 'not-the-secret' });
    const res = await expectOssError(bad.put('tamper/wrong-secret.txt', Buffer.from('x')), 403, 'SignatureDoesNotMatch');
    await expectOssError(client.head('tamper/wrong-secret.txt'), 404, 'NoSuchKey');
    return res;
  });
  await check('tampered: v4 put with one hex digit of the Authorization signature flipped -> 403 SignatureDoesNotMatch', async () => {
    const tampering = makeClient(port);
    // Alter the signed header on the wire: wrap ali-oss's HTTP client (urllib) and flip the last
    // hex digit of "Signature=..." after ali-oss computed it.
    const realRequest = tampering.urllib.request.bind(tampering.urllib);
    tampering.urllib = {
      request(url, params) {
        const auth = params.headers.authorization;
        const last = auth[auth.length - 1];
        params.headers.authorization = auth.slice(0, -1) + (last === '0' ? '1' : '0');
        return realRequest(url, params);
      },
    };
    return expectOssError(tampering.put('tamper/flipped.txt', Buffer.from('x')), 403, 'SignatureDoesNotMatch');
  });
  await check('tampered: v4 put with an STS credential but without the token -> 403 InvalidAccessKeyId', async () => {
    const noToken = makeClient(port, { accessKeyId: STS_AK, accessKeySecret: STS_SK });
    return expectOssError(noToken.put('tamper/sts-no-token.txt', Buffer.from('x')), 403, 'InvalidAccessKeyId');
  });
  await check('tampered: v4 POST with an STS credential but without the token -> 403 InvalidAccessKeyId', async () => {
    const fields = v4PostFields(stsClient, 'tamper/sts-form.txt');
    return expectPostError(port, fields, 'x', 403, 'InvalidAccessKeyId');
  });
}

main()
  .catch(err => {
    failed++;
    console.log(`FAIL setup: ${err.message}`);
  })
  .finally(() => {
    stopEmulator();
    if (failed > 0 && emulatorStderr) {
      console.log('--- emulator request log (stderr) ---');
      console.log(emulatorStderr.trimEnd());
    }
    console.log(`ali-oss vs emulator: ${passed} passed, ${failed} failed`);
    process.exitCode = failed === 0 ? 0 : 1;
  });
