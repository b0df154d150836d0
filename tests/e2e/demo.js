// The local stack, shown working: starts the emulator and the service on the PostgreSQL at
// DATABASE_URL, authorizes one upload over gRPC, posts a file to the emulator as a browser would,
// and prints the completion event streamed by WatchUploads. With --once it stops afterwards;
// otherwise the stack stays up (Ctrl-C to stop) and its addresses are printed.
'use strict';

let grpc;
let protoLoader;
try {
  grpc = require('@grpc/grpc-js');
  protoLoader = require('@grpc/proto-loader');
} catch (err) {
  // Under plain ctest without the npm packages; tests/run.sh and local-stack.sh provide them.
  console.log('SKIP: @grpc/grpc-js is not installed; run scripts/npm-deps.sh and set NODE_PATH');
  process.exit(process.env.OSSUP_REQUIRE_ORACLE === '1' ? 1 : 77);
}
const { startStack, uploadClient, postForm } = require('./stack');

async function main() {
  const once = process.argv.includes('--once');
  const stack = await startStack({ keep: !once });
  const stop = async () => {
    await stack.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const client = uploadClient(grpc, protoLoader, stack.grpcTarget, stack.token);
    const parent = 'namespaces/demo';
    const events = client.WatchUploads({ parent, from_now: true }, client.md());
    const completed = new Promise((resolve, reject) => {
      events.on('data', resolve);
      events.on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 200));
    const created = await new Promise((resolve, reject) =>
      client.CreateUpload({
        parent, subject: 'demo-user',
        key_template: { prefix: 'demo/', file_name: 'hello.txt' },
        constraints: { content_types: ['text/plain'], min_size: 1, max_size: 1 << 20 },
      }, client.md(), (err, res) => (err ? reject(err) : resolve(res))));
    console.log(`1. CreateUpload  -> ${created.upload.name} (${created.upload.state})`);
    console.log(`                    key ${created.upload.object_key}, form with ${created.form.fields.length} fields for ${created.form.url}`);
    const posted = await postForm(created.form, Buffer.from('hello, oss\n'), 'text/plain');
    console.log(`2. POST the form  -> HTTP ${posted.status} ${posted.body}  (relayed by OSS from our callback answer)`);
    const event = await Promise.race([completed,
      new Promise((_, reject) => setTimeout(() => reject(new Error('no event within 10 s')), 10000).unref())]);
    console.log(`3. WatchUploads   -> #${event.sequence} ${event.type}: ${event.upload.object.key}, ${event.upload.object.size} bytes, etag ${event.upload.object.etag}`);
    events.cancel();
    client.close();
    if (once) {
      await stack.stop();
      console.log('local stack: upload completed; stopped (--once)');
      return;
    }
    console.log(`\nThe stack is up (Ctrl-C stops it):
  gRPC API        ${stack.grpcTarget}   (authorization: Bearer ${stack.token}; namespaces acme, demo)
  callback/probes ${stack.httpUrl}/oss/callback, /healthz, /readyz
  OSS emulator    ${stack.emulatorUrl}
  logs            ${stack.log}

Try uploadctl against it:
  export OSSUP_TARGET=${stack.grpcTarget} OSSUP_TOKEN=${stack.token} OSSUP_NAMESPACE=acme
  build/client/uploadctl upload README.md && build/client/uploadctl list`);
  } catch (err) {
    console.error(`local stack: ${err.message}; logs in ${stack.log}`);
    await stack.stop();
    process.exit(1);
  }
}

main();
