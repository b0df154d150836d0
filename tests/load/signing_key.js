// The key the load generator signs callbacks with (as OSS would), pinned in the service the
// benchmark scripts start.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

// Writes a fresh key pair into `dir`; returns the service's callback_keys section and the load
// generator's signing arguments.
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

module.exports = { benchSigningKey };
