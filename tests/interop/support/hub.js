// Starts a real iothubd for a Node interop test (inside the test's network namespace, so it
// takes port 443 as the SDKs require) and hands back its connection string and CA file.
'use strict';
const assert = require('node:assert/strict');
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const IOTHUBD = process.env.IOTHUBD || path.resolve(__dirname, '../../../build/iothubd');

async function startHub(args = []) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iothubd-interop-'));
  const proc = spawn(IOTHUBD, ['--data-dir', dataDir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Service REST API:')) resolve();
    });
    proc.on('exit', (code) => reject(new Error(`iothubd exited ${code}:\n${err}`)));
  });
  const connectionString = out.match(/^\s*(HostName=\S+)$/m)[1];
  const caFile = out.match(/CA certificate for clients to trust:\n\s*(\S+)/)[1];
  return {
    dataDir,
    connectionString,
    caFile,
    policy(name) {
      return execFileSync(IOTHUBD, ['--data-dir', dataDir, '--print-connection-string', name]).toString().trim();
    },
    // stop({ keepDataDir: true }) leaves the data directory for dumpEvents(); call
    // removeDataDir() when done with it.
    async stop({ keepDataDir = false } = {}) {
      const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
      proc.kill('SIGTERM');
      const code = await exited;
      if (!keepDataDir) fs.rmSync(dataDir, { recursive: true, force: true });
      for (const marker of ['ERROR: AddressSanitizer', 'runtime error:', 'ERROR: LeakSanitizer']) {
        if (err.includes(marker)) throw new Error(`sanitizer report in iothubd's log:\n${err}`);
      }
      return code;
    },
    // Every stored telemetry record (iothubd --dump-events), with body as a Buffer. Only
    // once the hub is stopped: the dump takes the data directory's lock.
    dumpEvents() {
      const out = execFileSync(IOTHUBD, ['--data-dir', dataDir, '--dump-events'],
        { maxBuffer: 256 * 1024 * 1024 }).toString();
      return out.split('\n').filter((l) => l.trim()).map((l) => {
        const rec = JSON.parse(l);
        rec.body = Buffer.from(rec.body_base64, 'base64');
        return rec;
      });
    },
    removeDataDir() {
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// The SDKs read NODE_EXTRA_CA_CERTS only at start-up, so each interop test file starts the hub,
// then runs itself again as a child (IOTHUB_INTEROP_CHILD=1) with the hub's CA trusted and its
// owner connection string in HUB_OWNER_CS (plus extraEnv); the child holds the real tests.
// Asserts that the child ran tests and that none failed; onFailure() runs first when it failed.
function runTestsAsChild(filename, hub, extraEnv = {}, onFailure = () => {}) {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT; // else the child thinks it runs under this runner
  const res = spawnSync(process.execPath, ['--test', '--test-reporter=tap', filename], {
    env: {
      ...env,
      IOTHUB_INTEROP_CHILD: '1',
      NODE_EXTRA_CA_CERTS: hub.caFile,
      HUB_OWNER_CS: hub.connectionString,
      ...extraEnv,
    },
    encoding: 'utf8',
    timeout: 240000,
  });
  process.stdout.write(res.stdout);
  process.stderr.write(res.stderr);
  if (res.status !== 0) onFailure();
  assert.equal(res.status, 0, 'the interop tests failed');
  assert.match(res.stdout, /# fail 0/);
  assert.doesNotMatch(res.stdout, /# pass 0\b/);
}

module.exports = { startHub, runTestsAsChild };
