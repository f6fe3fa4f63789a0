/**
 * The stack a browser test talks to, one per Playwright worker (so one per project): a fresh
 * session database of the project's backend, the development identity provider as a child
 * process, and the Bodhi server in this process through the embedding API (`BodhiServer`).
 *
 * `@bodhi/*` imports resolve to the libraries' BUILT dist (see ./tsconfig.json): Playwright
 * transpiles TypeScript with babel, which emits no decorator metadata, and Nest's dependency
 * injection needs it. `assertBuiltLibraries` refuses to run otherwise.
 */
import {
  test as base,
  expect,
  type BrowserContext,
  type BrowserContextOptions,
  type Page,
} from '@playwright/test';
import { BodhiServer, createAppOptions, setEnvVar } from '@bodhi/napi-config';
import {
  startStack,
  type ServerLauncher,
  type StackServer,
  type TestSessionDb,
} from '@bodhi/testing';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';

export type Backend = 'sqlite' | 'postgres';

/** The worker-scoped option each project sets (playwright.config.ts). */
export interface BackendOptions {
  backend: Backend;
}

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
   * like a second person or a second browser (`options`, e.g. its `userAgent`, as
   * `browser.newContext` takes them). Contexts are closed after the test.
   */
  newPage: (options?: BrowserContextOptions) => Promise<Page>;
}

/** Fails fast when `@bodhi/*` would be loaded from TypeScript sources instead of dist. */
function assertBuiltLibraries(): void {
  for (const specifier of ['@bodhi/napi-config', '@bodhi/testing']) {
    const file = fs.realpathSync(fileURLToPath(import.meta.resolve(specifier)));
    if (!/\/libs\/[^/]+\/dist\/[^/]+\.js$/.test(file)) {
      throw new Error(
        `${specifier} resolved to ${file}, not to a built dist: Playwright must not load ` +
          '@bodhi/* sources (check the tsconfig in playwright.config.ts)',
      );
    }
  }
}

/** The stack's server runs in this process, configured through the embedding API. */
const inProcess: ServerLauncher<StackServer> = ({ env, onListening }) => {
  let options = createAppOptions();
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined) options = setEnvVar(options, name, value);
  }
  const server = new BodhiServer(options);
  return {
    get url() {
      return server.serverUrl();
    },
    async up() {
      await server.start();
      await onListening(server.serverUrl());
    },
    stop: () => server.stop(),
  };
};

export const test = base.extend<TestFixtures, WorkerFixtures>({
  backend: ['sqlite', { scope: 'worker', option: true }],

  stack: [
    async ({ backend }, use) => {
      assertBuiltLibraries();
      const stack = await startStack({ backend }, inProcess);
      try {
        await use({ backend, url: stack.servers[0].url, issuer: stack.idp.issuer, db: stack.db });
      } finally {
        await stack.stop();
      }
    },
    { scope: 'worker', timeout: 60_000, title: 'Bodhi stack' },
  ],

  baseURL: async ({ stack }, use) => use(stack.url),

  newPage: async ({ browser, baseURL }, use) => {
    const contexts: BrowserContext[] = [];
    await use(async (options = {}) => {
      const context = await browser.newContext({ baseURL, ...options });
      contexts.push(context);
      return context.newPage();
    });
    await Promise.all(contexts.map((context) => context.close()));
  },
});

export { expect };
