// Shared by the Node test scripts: loading an npm package or skipping, and the check tally whose
// closing line ("<label>: N passed, M failed") ctest's reader understands.
'use strict';

// require(name), or exit 77 (ctest skip) when it is not installed; under tests/run.sh
// (OSSUP_REQUIRE_ORACLE=1) a missing package is a failure instead.
function loadOrSkip(name) {
  try {
    return require(name);
  } catch (err) {
    return skipOrFail(`cannot load '${name}' (${err.code}); run scripts/npm-deps.sh and set NODE_PATH`);
  }
}

// Exits 77 (ctest skip) with `msg`, or 1 when the environment variable `required` is '1'
// (tests/run.sh sets them: there, what a test needs must be present).
function skipOrFail(msg, required = 'OSSUP_REQUIRE_ORACLE') {
  if (process.env[required] === '1') {
    console.log(`FAIL: ${msg}`);
    process.exit(1);
  }
  console.log(`SKIP: ${msg}`);
  process.exit(77);
}

// Exits 77 (skip) when DATABASE_URL is not set; 1 under tests/run.sh (OSSUP_REQUIRE_DB=1).
function requireDatabaseOrSkip() {
  if (!process.env.DATABASE_URL) skipOrFail('DATABASE_URL is not set', 'OSSUP_REQUIRE_DB');
}

// A tally of named checks: check(name, ok, detail), fail(detail), finish() prints the closing
// line and exits 0 only when nothing failed.
function tally(label) {
  let passed = 0;
  let failed = 0;
  return {
    check(name, ok, detail = '') {
      if (ok) {
        passed++;
        console.log(`ok   ${name}`);
      } else {
        failed++;
        console.log(`FAIL ${name} ${detail}`);
      }
      return ok;
    },
    fail(detail) {
      failed++;
      console.log(`FAIL ${detail}`);
    },
    get failed() { return failed; },
    finish() {
      console.log(`${label}: ${passed} passed, ${failed} failed`);
      process.exit(failed === 0 ? 0 : 1);
    },
  };
}

module.exports = { loadOrSkip, requireDatabaseOrSkip, skipOrFail, tally };
