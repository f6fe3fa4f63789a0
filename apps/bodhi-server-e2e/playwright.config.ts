/**
 * Browser e2e: real Chromium (Debian's package, not a Playwright download) against the Bodhi
 * server started in-process, once per session backend. Run with
 * `npx nx run bodhi-server-e2e:browser` (builds what the tests import first).
 */
import { defineConfig } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BackendOptions } from './playwright/fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const workspaceRoot = path.resolve(here, '../..');

/** BODHI_CHROMIUM, else Debian's /usr/bin/chromium, else `chromium` on the PATH. */
function chromiumPath(): string {
  if (process.env.BODHI_CHROMIUM) return process.env.BODHI_CHROMIUM;
  const candidates = [
    '/usr/bin/chromium',
    ...(process.env.PATH ?? '').split(path.delimiter).map((dir) => path.join(dir, 'chromium')),
  ];
  return candidates.find((file) => fs.existsSync(file)) ?? '/usr/bin/chromium';
}

export default defineConfig<object, BackendOptions>({
  testDir: './playwright',
  testMatch: '*.pw-spec.ts',
  // No `@bodhi/*` path aliases, so the libraries load from their built dist (see the tsconfig),
  // and built output is loaded as it is, not re-transpiled.
  tsconfig: './playwright/tsconfig.json',
  build: { external: ['**/dist/**'] },
  outputDir: path.join(workspaceRoot, 'tmp/playwright'),
  timeout: 60_000,
  // One worker per project (= per backend): each starts its own stack, tests run in order.
  workers: 2,
  fullyParallel: false,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  use: {
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: chromiumPath(),
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-quic',
        '--no-first-run',
        // Without these Chromium keeps calling out to Google's services, which are refused
        // here (and noisy): nothing of the tests needs them.
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  projects: [
    { name: 'sqlite-chromium', use: { browserName: 'chromium', backend: 'sqlite' } },
    { name: 'pg-chromium', use: { browserName: 'chromium', backend: 'postgres' } },
  ],
});
