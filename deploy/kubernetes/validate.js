// Offline schema check of Kubernetes manifests (no cluster needed).
// Usage: kubectl kustomize DIR | node validate.js        (validate.sh does this for every overlay)
//
// Each object is checked twice against the schema of its kind from npm kubernetes-models@4:
//   1. `new Model(obj).validate()`: types, enums, required fields (`replicas: "two"` fails);
//   2. unknown fields: those schemas allow additional properties, so a misspelt or misplaced key
//      (`portz`, `runAsNonroot`, `containers` one level too high) would pass silently. The package
//      ships no JSON schema documents, only validators compiled by ajv, and a compiled validator
//      reads every property its schema declares, by name, whether or not it is present, recursing
//      through $ref, items and additionalProperties maps (a map is iterated key by key). So the
//      model's own validator runs once more over proxies that record every key read; any key of
//      an object that the validator never read is not declared in that object's schema. An object
//      of which nothing at all was read has a free-form schema and is not reported.
// Unknown apiVersion/kind pairs fail too. Input may carry marker comments from validate.sh:
//   # ossup-source: NAME            labels the objects that follow
//   # ossup-kustomize-failed: NAME  counts as one failed check
// Prints `ok`/`FAIL` lines and `k8s: N passed, M failed`; exits 1 when anything failed, 77 when
// the npm packages are missing (see tests/js/harness.js).
'use strict';

const fs = require('fs');
const path = require('path');
const { loadOrSkip, tally } = require(path.join(__dirname, '../../tests/js/harness'));

const YAML = loadOrSkip('yaml');
loadOrSkip('kubernetes-models/v1/Service');

// The model class for apiVersion/kind, or an error message.
function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
    return 'apiVersion and kind are required';
  }
  const m = /^(?:([a-z0-9.-]+)\/)?(v[0-9]+(?:(?:alpha|beta)[0-9]+)?)$/.exec(apiVersion);
  if (!m || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) return `unknown kind ${apiVersion}/${kind}`;
  const group = m[1] ? `${m[1]}/` : '';  // the core group has none: kubernetes-models/v1/Service
  const modulePath = `kubernetes-models/${group}${m[2]}/${kind}`;
  let Model;
  try {
    Model = require(modulePath)[kind];
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND' && err.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw err;
  }
  // Nested types (DeploymentSpec, ...) have modules too, but no apiVersion/kind of their own.
  if (!Model || Model.apiVersion !== apiVersion || Model.kind !== kind) {
    return `unknown kind ${apiVersion}/${kind} (not in kubernetes-models@4)`;
  }
  return Model;
}

// Runs the model's validator over proxies of `obj` and returns the JSON pointers of keys it never
// read (see the header).
function unknownFields(Model, obj) {
  const read = new Map();  // original object -> Set of keys read
  const proxies = new WeakMap();
  const wrap = (value) => {
    if (value === null || typeof value !== 'object') return value;
    if (proxies.has(value)) return proxies.get(value);
    read.set(value, new Set());
    const proxy = new Proxy(value, {
      get(target, key) {
        if (typeof key === 'string') read.get(target).add(key);
        return wrap(target[key]);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  };
  try {
    Model.prototype.validate.call(wrap(obj));
  } catch (err) {
    // Schema errors are reported by the plain validation; only the reads matter here.
  }
  const unknown = [];
  const walk = (value, pointer) => {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, `${pointer}/${i}`));
      return;
    }
    const keys = read.get(value);
    if (!keys) return;  // the validator never reached this object (inside a free-form value)
    for (const [k, v] of Object.entries(value)) {
      if (keys.size > 0 && !keys.has(k)) unknown.push(`${pointer}/${k}`);
      else walk(v, `${pointer}/${k}`);
    }
  };
  walk(obj, '');
  return unknown;
}

// kustomize's secretGenerator wraps long base64 values at 70 columns. The API server accepts that
// (Go's base64 decoder skips \r and \n) but the models' "byte" format does not, so line breaks in
// Secret.data and ConfigMap.binaryData values are removed before validation.
function unwrapBase64(obj) {
  if (obj === null || typeof obj !== 'object') return obj;
  const field = obj.kind === 'Secret' ? 'data' : obj.kind === 'ConfigMap' ? 'binaryData' : null;
  if (!field || obj[field] === null || typeof obj[field] !== 'object') return obj;
  const values = Object.fromEntries(Object.entries(obj[field]).map(
    ([k, v]) => [k, typeof v === 'string' ? v.replace(/[\r\n]/g, '') : v]));
  return { ...obj, [field]: values };
}

// The keys service/app/config.cc reads, as dotted paths ("grpc.listen", "buckets[].name"). The
// service ignores keys it does not read, so a misspelt one ("snii") would silently keep a default.
function serviceConfigKeys() {
  const source = fs.readFileSync(path.join(__dirname, '../../service/app/config.cc'), 'utf8');
  const keys = new Set();
  const read = /Get\([^;]*?, "([a-z_]+)", &[^,]+, (?:"([a-z_.[\]]*)"|(where))\)/g;
  for (const m of source.matchAll(read)) {
    const prefix = m[3] ? /const std::string where = "([^"]*)"/.exec(source)?.[1] : m[2];
    if (prefix !== undefined) keys.add(prefix + m[1]);
  }
  if (!keys.has('database.url') || !keys.has('buckets[].name') || !keys.has('callback.sni')) {
    throw new Error('cannot read the configuration keys from service/app/config.cc; '
                    + 'update validate.js');
  }
  return keys;
}

// Problems of a service configuration (ConfigMap data service.json): JSON syntax, unknown keys.
function serviceConfigProblems(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return [`service.json: ${err.message}`];
  }
  const known = serviceConfigKeys();
  const problems = [];
  const walk = (value, prefix) => {
    if (Array.isArray(value)) {
      value.forEach((item) => walk(item, `${prefix}[]`));
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        const key = prefix ? `${prefix}.${k}` : k;
        const isParent = [...known].some(
          (n) => n.startsWith(`${key}.`) || n.startsWith(`${key}[].`));
        if (isParent) walk(v, key);
        else if (!known.has(key)) problems.push(`service.json: unknown key ${key}`);
      }
    }
  };
  walk(doc, '');
  return problems;
}

function sections(text) {
  const out = [];
  let current = { source: 'stdin', lines: [] };
  for (const line of text.split('\n')) {
    const src = /^# ossup-source: (.*)$/.exec(line);
    const failed = /^# ossup-kustomize-failed: (.*)$/.exec(line);
    if (src) {
      out.push(current);
      current = { source: src[1], lines: [] };
    } else if (failed) {
      current.kustomizeFailed = failed[1];
    } else {
      current.lines.push(line);
    }
  }
  out.push(current);
  const hasContent = (l) => l.trim() !== '' && !l.startsWith('#') && l.trim() !== '---';
  return out.filter((s) => s.kustomizeFailed || s.lines.some(hasContent));
}

function main() {
  const t = tally('k8s');
  const input = fs.readFileSync(process.argv[2] ?? 0, 'utf8');
  const all = sections(input);
  if (all.length === 0) t.fail('no Kubernetes objects in the input');
  for (const section of all) {
    if (section.kustomizeFailed) {
      t.fail(`${section.kustomizeFailed}: kubectl kustomize failed`);
      continue;
    }
    const docs = YAML.parseAllDocuments(section.lines.join('\n'));
    docs.forEach((doc, i) => {
      const where = `${section.source}#${i}`;
      if (doc.errors.length > 0) {
        t.fail(`${where}: YAML: ${doc.errors[0].message}`);
        return;
      }
      const obj = unwrapBase64(doc.toJS() ?? null);
      if (obj === null) return;  // empty document
      if (typeof obj !== 'object' || Array.isArray(obj)) {
        t.fail(`${where}: not a Kubernetes object`);
        return;
      }
      const name = `${section.source}: ${obj.kind}/${obj.metadata?.name ?? '?'}`;
      const Model = modelFor(obj.apiVersion, obj.kind);
      if (typeof Model === 'string') {
        t.check(name, false, Model);
        return;
      }
      const problems = [];
      try {
        new Model(obj).validate();
      } catch (err) {
        problems.push(err.message);
      }
      for (const pointer of unknownFields(Model, obj)) problems.push(`unknown field ${pointer}`);
      if (obj.kind === 'ConfigMap' && typeof obj.data?.['service.json'] === 'string') {
        problems.push(...serviceConfigProblems(obj.data['service.json']));
      }
      t.check(name, problems.length === 0, problems.join('; '));
    });
  }
  t.finish();
}

main();
