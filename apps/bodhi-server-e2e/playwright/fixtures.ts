/**
 * The stack a browser test talks to, one per Playwright worker (so one per project): a fresh
 * session database of the project's backend, the development identity provider as a child
 * process, and the Bodhi server in this process through the embedding API (`BodhiServer`).
 *
 * `@bodhi/*` imports resolve to the libraries' BUILT dist (see ./tsconfig.json): Playwright
 * transpiles TypeScript with babel, which emits no decorator metadata, and Nest's dependency
 * injection needs it. `assertBuiltLibraries` refuses to run otherwise.
 */
import { test as base, expect, type BrowserContext, type Page } from '@playwright/test';
import {
  BODHI_AUTH_URL,
  BODHI_HOME,
  BODHI_HOST,
  BODHI_LOG_LEVEL,
  BODHI_PORT,
  BODHI_SESSION_DB_SCHEMA,
  BODHI_SESSION_DB_TABLE,
  BODHI_SESSION_DB_URL,
  BodhiServer,
  createAppOptions,
  setAppSetting,
  setClientCredentials,
  setEnvVar,
  setSystemSetting,
} from '@bodhi/napi-config';
import { createTestSessionDb, freePort, type TestSessionDb } from '@bodhi/services/testing';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { identityProvider, startIdentityProvider } from '../src/support/processes.js';

export type Backend = 'sqlite' | 'postgres';

/** The worker-scoped option each project sets (playwright.config.ts). */
export interface BackendOptions {
  backend: Backend;
}

/** The demo users of apps/dev-auth-server/users.json. */
export const DEMO_USER = { username: 'user@bodhi.test', password: 'user-pass' };
export const DEMO_ADMIN = { username: 'admin@bodhi.test', password: 'admin-pass' };
const CLIENT_ID = 'bodhi-server';
const CLIENT_SECRET = 'browser-e2e-client-secret';

export interface BodhiStack {
  backend: Backend;
  /** The Bodhi server's URL, e.g. http://127.0.0.1:41234 (the tests' baseURL). */
  url: string;
  /** The identity provider's issuer URL. */
  issuer: string;
  db: TestSessionDb;
}

interface WorkerFixtures extends BackendOptions {
  stack: BodhiStack;
}

interface TestFixtures {
  /**
   * Opens a page in a new browser context — another browser profile with its own cookies,
   * like a second person or a second browser. Contexts are closed after the test.
   */
  newPage: () => Promise<Page>;
}

/** Fails fast when `@bodhi/*` would be loaded from TypeScript sources instead of dist. */
function assertBuiltLibraries(): void {
  for (const specifier of ['@bodhi/napi-config', '@bodhi/services/testing']) {
    const file = fs.realpathSync(fileURLToPath(import.meta.resolve(specifier)));
    if (!/\/libs\/[^/]+\/dist\/[^/]+\.js$/.test(file)) {
      throw new Error(
        `${specifier} resolved to ${file}, not to a built dist: Playwright must not load ` +
          '@bodhi/* sources (check the tsconfig in playwright.config.ts)',
      );
    }
  }
}

async function startStack(backend: Backend): Promise<{ stack: BodhiStack; stop(): Promise<void> }> {
  assertBuiltLibraries();
  const db = await createTestSessionDb(backend);
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bodhi-browser-e2e-'));
  const [idpPort, serverPort] = [await freePort(), await freePort()];
  const serverUrl = `http://127.0.0.1:${serverPort}`;
  const idp = identityProvider({
    port: idpPort,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUris: [`${serverUrl}/ui/auth/callback`],
  });
  const { issuer } = idp;

  let options = createAppOptions();
  options = setSystemSetting(options, BODHI_HOME, home);
  options = setSystemSetting(options, BODHI_AUTH_URL, issuer);
  options = setAppSetting(options, BODHI_HOST, '127.0.0.1');
  options = setAppSetting(options, BODHI_PORT, String(serverPort));
  options = setAppSetting(options, BODHI_LOG_LEVEL, 'warn');
  options = setClientCredentials(options, CLIENT_ID, CLIENT_SECRET);
  options = setEnvVar(options, BODHI_SESSION_DB_URL, db.url);
  options = setEnvVar(options, BODHI_SESSION_DB_TABLE, db.table);
  if (db.schema) options = setEnvVar(options, BODHI_SESSION_DB_SCHEMA, db.schema);
  const server = new BodhiServer(options);

  const stop = async () => {
    await Promise.allSettled([server.stop(), idp.stop()]);
    await db.drop();
    fs.rmSync(home, { recursive: true, force: true });
  };
  try {
    await startIdentityProvider(idp);
    await server.start();
    if (server.serverUrl() !== serverUrl) {
      throw new Error(`server answers at ${server.serverUrl()}, expected ${serverUrl}`);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { stack: { backend, url: serverUrl, issuer, db }, stop };
}

export const test = base.extend<TestFixtures, WorkerFixtures>({
  backend: ['sqlite', { scope: 'worker', option: true }],

  stack: [
    async ({ backend }, use) => {
      const { stack, stop } = await startStack(backend);
      try {
        await use(stack);
      } finally {
        await stop();
      }
    },
    { scope: 'worker', timeout: 60_000, title: 'Bodhi stack' },
  ],

  baseURL: async ({ stack }, use) => use(stack.url),

  newPage: async ({ browser, baseURL }, use) => {
    const contexts: BrowserContext[] = [];
    await use(async () => {
      const context = await browser.newContext({ baseURL });
      contexts.push(context);
      return context.newPage();
    });
    await Promise.all(contexts.map((context) => context.close()));
  },
});

export { expect };
