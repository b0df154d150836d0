// Command-line parsing shared by the benchmark scripts: --name=value (or a bare --name, true)
// into `flags`, anything else into `positional`.
'use strict';

function parseFlags(argv) {
  const flags = {};
  const positional = [];
  for (const a of argv) {
    if (a.startsWith('--')) {
      const i = a.indexOf('=');
      flags[i < 0 ? a.slice(2) : a.slice(2, i)] = i < 0 ? true : a.slice(i + 1);
    } else {
      positional.push(a);
    }
  }
  return { flags, positional };
}

module.exports = { parseFlags };
