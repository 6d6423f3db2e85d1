// Starts the real server for the tests: the binary built by `cargo build`
// (or PAIECASHFAN_BIN) on a fresh SQLite database with demo data, on a free
// port. With PCF_BASE_URL set, the tests talk to that server instead (CI's
// run through nginx in front of two instances).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..');

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

export async function startServer(env = {}) {
  if (process.env.PCF_BASE_URL) {
    return { baseURL: process.env.PCF_BASE_URL.replace(/\/+$/, ''), stop: async () => {} };
  }
  const bin = process.env.PAIECASHFAN_BIN || join(repo, 'target', 'debug', 'paiecashfan');
  const dir = mkdtempSync(join(tmpdir(), 'pcf-js-'));
  const port = await freePort();
  const child = spawn(bin, ['serve'], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: `sqlite://${join(dir, 'test.db')}`,
      PORT: String(port),
      HOST: '127.0.0.1',
      JWT_SECRET: 'js-client-tests-secret-js-client-tests-secret',
      DEMO_DATA: 'true',
      AUTH_RATE_LIMIT_PER_MINUTE: '100000',
      LOG_FORMAT: 'json',
      RUST_LOG: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const baseURL = `http://127.0.0.1:${port}/api`;
  for (let i = 0; i < 300; i += 1) {
    if (child.exitCode !== null) throw new Error(`server exited: ${output}`);
    try {
      const r = await fetch(`${baseURL}/health`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
    if (i === 299) throw new Error(`server never became healthy: ${output}`);
  }
  return {
    baseURL,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
    output: () => output,
  };
}
