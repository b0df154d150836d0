// Oracle test: the official ali-oss package re-signs every policy our library issued and must
// agree byte for byte (policy base64, V4 signature, credential and date; V1 signature).
// Usage: node policy_oracle.js <policy_corpus binary> [count]
// NODE_PATH must point at the node_modules installed by scripts/npm-deps.sh.
'use strict';

const { loadOrSkip } = require('../js/harness');

const { execFileSync } = require('child_process');


const OSS = loadOrSkip('ali-oss');
const signUtils = loadOrSkip('ali-oss/lib/common/signUtils');
const dateFormat = loadOrSkip('dateformat');

const [corpusBinary, count = '300'] = process.argv.slice(2);
const lines = execFileSync(corpusBinary, [count], { encoding: 'utf8', maxBuffer: 256 << 20 })
  .split('\n')
  .filter(Boolean);

let passed = 0;
let failed = 0;
function check(c, what, got, want) {
  if (got !== want) {
    failed++;
    console.error(`case ${c.case} (${c.version}): ${what}\n  ours:   ${want}\n  ali-oss: ${got}`);
    return false;
  }
  return true;
}

// Condition values are '$'-escaped in the policy; the form carries the literal value.
function unescapePolicyValue(v) {
  return v.replace(/\\\$/g, '$');
}

for (const line of lines) {
  const c = JSON.parse(line);
  const f = c.fields;
  let ok = true;
  // ali-oss nags about STS refresh settings on every construction; that is noise here.
  const warn = console.warn;
  console.warn = () => {};
  const client = new OSS({
    // ali-oss accepts the endpoint-style region and strips "oss-" itself.
    region: `oss-${c.region}`,
    accessKeyId: c.accessKeyId,
    accessKeySecret: c.accessKeySecret,
    stsToken: c.stsToken || undefined,
    authorizationV4: c.version === 'v4',
  });
  console.warn = warn;

  // Our JSON is what JSON.stringify writes, so every other SDK reproduces the same policy bytes.
  ok &&= check(c, 'policy JSON is canonical', JSON.stringify(JSON.parse(c.policyJson)), c.policyJson);
  ok &&= check(c, 'policy base64', Buffer.from(c.policyJson, 'utf8').toString('base64'), f.policy);

  if (c.version === 'v4') {
    const date = new Date(c.nowMs);
    const xOssDate = dateFormat(date, "UTC:yyyymmdd'T'HHMMss'Z'");
    const day = xOssDate.split('T')[0];
    ok &&= check(c, 'x-oss-date', xOssDate, f['x-oss-date']);
    ok &&= check(c, 'x-oss-credential', signUtils.getCredential(day, c.region, c.accessKeyId), f['x-oss-credential']);
    ok &&= check(c, 'x-oss-signature', client.signPostObjectPolicyV4(c.policyJson, date), f['x-oss-signature']);
    if (c.stsToken) ok &&= check(c, 'x-oss-security-token', c.stsToken, f['x-oss-security-token']);
    // A single changed byte must change the signature (proves this comparison can fail).
    const tampered = c.policyJson.replace('"conditions"', '"conditionz"');
    if (client.signPostObjectPolicyV4(tampered, date) === f['x-oss-signature']) {
      ok = false;
      failed++;
      console.error(`case ${c.case}: tampered policy still matched`);
    }
  } else {
    const r = client.calculatePostSignature(c.policyJson);
    ok &&= check(c, 'OSSAccessKeyId', r.OSSAccessKeyId, f.OSSAccessKeyId);
    ok &&= check(c, 'policy (V1)', r.policy, f.policy);
    ok &&= check(c, 'Signature (V1)', r.Signature, f.Signature);
  }

  // Every exact condition on a field the form sends must match what the form sends.
  for (const cond of JSON.parse(c.policyJson).conditions) {
    let field;
    let value;
    if (Array.isArray(cond)) {
      if (cond[0] !== 'eq') continue;
      field = cond[1].slice(1);
      value = cond[2];
    } else {
      [[field, value]] = Object.entries(cond);
      if (field === 'bucket') continue;
    }
    // OSS field names are case-insensitive (conditions use $content-type for Content-Type).
    const formName = Object.keys(f).find((name) => name.toLowerCase() === field.toLowerCase());
    ok &&= check(c, `bound field ${field}`, unescapePolicyValue(value), f[formName]);
  }
  if (ok) passed++;
}

if (lines.length === 0) {
  console.error('FAIL: the corpus generator printed nothing');
  failed++;
}
console.log(`ali-oss oracle: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
