// --role=grpc: the gRPC API works, the HTTP port serves /healthz, /readyz and /metrics (so the grpc
// container of a split pod can be scraped), and it takes no callbacks.
// Usage: node roles_test.js   (DATABASE_URL and NODE_PATH set by tests/run.sh)
'use strict';

const { loadOrSkip, requireDatabaseOrSkip, tally } = require('../js/harness');

const grpc = loadOrSkip('@grpc/grpc-js');
const protoLoader = loadOrSkip('@grpc/proto-loader');
const { startStack, uploadClient } = require('./stack');

requireDatabaseOrSkip();

const t = tally('roles');
const check = t.check;

async function main() {
  const stack = await startStack({ serviceArgs: ['--role=grpc'] });
  const client = uploadClient(grpc, protoLoader, stack.grpcTarget, stack.token);
  try {
    const created = await new Promise((resolve, reject) => client.CreateUpload({
      parent: 'namespaces/acme', subject: 'user-1', object_key: 'roles/a.txt',
      constraints: { content_types: ['text/plain'], max_size: 1024 },
    }, client.md(), { deadline: Date.now() + 10000 }, (err, res) => (err ? reject(err) : resolve(res))));
    check('CreateUpload works with --role=grpc', created.upload.state === 'PENDING');

    const metrics = await fetch(`${stack.httpUrl}/metrics`);
    const text = await metrics.text();
    check('/metrics answers 200', metrics.status === 200, `got ${metrics.status}`);
    check('/metrics has the gRPC request counter of this process',
      /ossup_grpc_requests_total\{method="CreateUpload",code="OK"\} 1\b/.test(text));
    check('/metrics has the event hub gauges', /ossup_event_hub_subscribers/.test(text));
    check('/metrics has no HeadObject gauge (this role confirms no callbacks)',
      !/ossup_oss_head_requests_in_flight/.test(text));
    check('/readyz answers 200', (await fetch(`${stack.httpUrl}/readyz`)).status === 200);
    check('/healthz answers 200', (await fetch(`${stack.httpUrl}/healthz`)).status === 200);
    const callback = await fetch(`${stack.httpUrl}/oss/callback`, { method: 'POST', body: '{}',
      headers: { 'content-type': 'application/json' } });
    check('the callback path is not served', callback.status === 404, `got ${callback.status}`);
  } finally {
    client.close();
    await stack.stop();
  }
}

main()
  .catch((err) => t.fail(`unexpected error: ${err.stack}`))
  .finally(() => t.finish());
