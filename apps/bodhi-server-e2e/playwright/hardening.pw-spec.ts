/**
 * Attacks from other origins, in the real browser: cross-site forms and fetches against a
 * logged-in victim, framing, DNS rebinding; and the UI pages working under their CSP.
 */
import type { ConsoleMessage, Page } from '@playwright/test';
import { DEMO_USER, startAttackerSite, type AttackerSite } from '@bodhi/testing';
import { expect, test, type BodhiStack } from './fixtures.js';
import { logIn } from './bodhi-ui.js';

const SESSION_COOKIE = 'bodhiapp_session_id';
const STATE_CHANGING = ['/bodhi/v1/auth/initiate', '/bodhi/v1/dev/db-reset'];

/** A page that, once loaded, submits a `text/plain` form to `action`, as a CSRF page does. */
const formPage = (action: string) => `<!doctype html>
<form method="POST" enctype="text/plain" action="${action}"><input name="x" value="1"></form>
<script>document.forms[0].submit()</script>`;

/** A page that POSTs to each of `targets` with fetch, no-cors (an opaque, "simple" request). */
const fetchPage = (targets: string[]) => `<!doctype html>
<script>
for (const target of ${JSON.stringify(targets)}) {
  fetch(target, { method: 'POST', mode: 'no-cors', credentials: 'include', body: 'x=1' });
}
</script>`;

/** A page that frames `src`, as a clickjacking page does. */
const framePage = (src: string) => `<!doctype html><iframe src="${src}"></iframe>`;

/** Every row of the session table, as stored. */
const allRows = (stack: BodhiStack) =>
  stack.db.query(`SELECT * FROM ${stack.db.qualifiedTable} ORDER BY id`);

async function sessionCookie(page: Page, url: string): Promise<string | undefined> {
  const cookies = await page.context().cookies(url);
  return cookies.find((c) => c.name === SESSION_COOKIE)?.value;
}

/**
 * CSP violations on pages of `origin`: Chromium's console report and the page's own
 * `securitypolicyviolation` event, both recorded from the first script on.
 */
async function watchCsp(page: Page, origin: string): Promise<string[]> {
  const violations: string[] = [];
  // A script, not a function: the spec is typed without the DOM's names.
  await page.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) =>
      console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI))`,
  });
  page.on('console', (msg: ConsoleMessage) => {
    const from = msg.location().url || page.url();
    if (from.startsWith(origin) && /Content Security Policy|CSP violation/i.test(msg.text())) {
      violations.push(`${from}: ${msg.text()}`);
    }
  });
  return violations;
}

test.describe('from another origin', () => {
  let attacker: AttackerSite;
  test.beforeAll(async ({ stack }) => {
    attacker = await startAttackerSite({
      ...Object.fromEntries(
        STATE_CHANGING.map((path) => [`/form${path}`, formPage(`${stack.url}${path}`)]),
      ),
      '/fetch': fetchPage(STATE_CHANGING.map((path) => `${stack.url}${path}`)),
      '/frame': framePage(`${stack.url}/ui/home`),
    });
  });
  test.afterAll(() => attacker?.close());

  test('cross-site forms and no-cors fetches neither log the victim out nor touch the store', async ({
    page,
    stack,
  }) => {
    await logIn(page, DEMO_USER);
    const cookie = await sessionCookie(page, stack.url);
    expect(cookie).toBeTruthy();
    const rows = await allRows(stack);
    expect(rows.length).toBeGreaterThan(0);

    // The victim opens the attacker's pages in the same browser (same cookie jar).
    const evil = await page.context().newPage();
    for (const path of STATE_CHANGING) {
      const [answer] = await Promise.all([
        evil.waitForResponse((r) => r.url() === `${stack.url}${path}`),
        evil.goto(attacker.url(`/form${path}`)),
      ]);
      expect({ path, status: answer.status() }).toEqual({ path, status: 403 });
      expect(await answer.headerValue('set-cookie')).toBeNull();
    }
    // The no-cors fetches reach the server; its answer (403) never reaches the page, which
    // Cross-Origin-Resource-Policy keeps from another origin: the browser reports it blocked.
    const outcomes = STATE_CHANGING.map(
      (path) =>
        new Promise<string>((resolve) => {
          const url = `${stack.url}${path}`;
          evil.on('response', (r) => r.url() === url && resolve(`answered ${r.status()}`));
          evil.on('requestfailed', (r) => r.url() === url && resolve(r.failure()?.errorText ?? ''));
        }),
    );
    await evil.goto(attacker.url('/fetch'));
    for (const outcome of await Promise.all(outcomes)) {
      expect(outcome).toMatch(/^(answered 403|net::ERR_BLOCKED_BY_RESPONSE\.NotSameOrigin)$/);
    }

    expect(await allRows(stack)).toEqual(rows);
    expect(await sessionCookie(page, stack.url)).toBe(cookie);
    const me = await page.request.get('/bodhi/v1/user');
    expect(me.status()).toBe(200);
    expect(await me.json()).toMatchObject({
      auth_status: 'logged_in',
      username: DEMO_USER.username,
    });
    await page.reload();
    await expect(page.getByRole('button', { name: 'Log out' })).toBeVisible();
  });

  test('a page of another origin cannot frame the home page', async ({ page, stack }) => {
    await logIn(page, DEMO_USER);
    const evil = await page.context().newPage();
    const refused = evil.waitForEvent('console', (msg) =>
      /^Framing .*violates .*"frame-ancestors 'none'"/.test(msg.text()),
    );
    const [framed] = await Promise.all([
      evil.waitForResponse(`${stack.url}/ui/home`),
      evil.goto(attacker.url('/frame')),
    ]);
    expect(framed.status()).toBe(200);
    await refused;
    // The frame holds the browser's error page, not ours.
    const frame = evil.frames().find((f) => f !== evil.mainFrame());
    expect(frame?.url()).toMatch(/^chrome-error:/);
    await expect(evil.frameLocator('iframe').getByRole('button', { name: 'Log out' })).toHaveCount(
      0,
    );
  });
});

test('the pages work under their CSP: log in, home, log out, with no violation', async ({
  page,
  stack,
}) => {
  const violations = await watchCsp(page, stack.url);
  await logIn(page, DEMO_USER);
  await page.reload();
  await expect(page.getByText('Logged in as Uma User')).toBeVisible();
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL('/ui/login');
  await expect(page.getByRole('button', { name: 'Log in' })).toBeVisible();
  expect(violations).toEqual([]);

  // The policy is enforced, not only met: a script injected into the page does not run.
  const ran = await page.evaluate<boolean>(`(() => {
    const script = document.createElement('script');
    script.textContent = 'window.injected = true';
    document.body.append(script);
    return window.injected === true;
  })()`);
  expect(ran).toBe(false);
  await expect.poll(() => violations.length).toBeGreaterThan(0);
});

test('DNS rebinding: a page of the attacker’s name, resolved to the server, reads nothing', async ({
  playwright,
  launchOptions,
  stack,
}) => {
  const port = new URL(stack.url).port;
  const name = `http://attacker.example:${port}`;
  // The attacker's name resolves to the server's address (what rebinding achieves), and
  // Chromium's own defences against it are set aside, so the server's is the one tested.
  const browser = await playwright.chromium.launch({
    ...launchOptions,
    args: [
      ...(launchOptions.args ?? []),
      '--host-resolver-rules=MAP attacker.example 127.0.0.1',
      '--disable-features=HttpsUpgrades,LocalNetworkAccessChecks,PrivateNetworkAccessChecks',
    ],
  });
  try {
    const page = await browser.newPage();
    // The attacker's document, served while the name still pointed at the attacker.
    await page.route(`${name}/rebind`, (route) =>
      route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>rebind</title>' }),
    );
    await page.goto(`${name}/rebind`);
    // Then, same-origin to the page, the requests reach the Bodhi server.
    const answers = await page.evaluate(async () => {
      const paths = ['/bodhi/v1/dev/sessions', '/bodhi/v1/user', '/ui/home'];
      return Promise.all(
        paths.map(async (path) => {
          const res = await fetch(path);
          return { path, status: res.status, body: await res.text() };
        }),
      );
    });
    for (const answer of answers) {
      expect({ path: answer.path, status: answer.status }).toEqual({
        path: answer.path,
        status: 421,
      });
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'host_not_allowed' } });
    }
    const rebound = await page.goto(`${name}/ui/home`);
    expect(rebound?.status()).toBe(421);
    expect(await page.context().cookies(name)).toEqual([]);
  } finally {
    await browser.close();
  }
});
