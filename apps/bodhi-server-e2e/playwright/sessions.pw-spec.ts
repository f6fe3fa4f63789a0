/**
 * "Your sessions" in a real browser, on both backends: the same user logged in from browsers
 * that say they are other browsers on other devices (each context sends its own user agent),
 * each named on the page as ua-parser-js names it, and ended from another one.
 */
import { DEMO_USER } from '@bodhi/testing';
import { expect, test } from './fixtures.js';
import { expectLoggedOut, logIn, openSessions, sessionRows } from './bodhi-ui.js';

const FIREFOX_ON_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const SAFARI_ON_IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const CHROME_ON_WINDOWS =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

test.beforeEach(async ({ stack }) => {
  // Nobody logged in at the start: earlier tests of this worker leave the demo user's sessions.
  await stack.db.query(`DELETE FROM ${stack.db.qualifiedTable} WHERE user_id IS NOT NULL`);
});

test('a logged-out visitor of the sessions page is sent to log in', async ({ page }) => {
  await page.goto('/ui/sessions');
  await expect(page.getByText('You are logged out.')).toBeVisible();
  await page.getByRole('link', { name: 'Log in' }).click();
  await expect(page).toHaveURL('/ui/login');
});

test('signs another device out from the sessions page; it is logged out on its next request', async ({
  newPage,
}) => {
  const laptop = await newPage({ userAgent: FIREFOX_ON_LINUX });
  const phone = await newPage({ userAgent: SAFARI_ON_IPHONE });
  await logIn(laptop, DEMO_USER);
  await logIn(phone, DEMO_USER);

  await openSessions(laptop);
  const rows = sessionRows(laptop);
  await expect(rows).toHaveCount(2);
  const own = rows.filter({ hasText: 'Firefox 133 on Linux' });
  const other = rows.filter({ hasText: 'Mobile Safari 17 on iOS 17.5' });
  await expect(own).toContainText('This device');
  await expect(own).toContainText('Active now');
  await expect(other).not.toContainText('This device');
  // The address as kept by default (truncated to its /24), the time in words.
  await expect(other).toContainText('Address: 127.0.0.0/24');
  await expect(other).toContainText(/Last seen (now|\d+ (second|minute)s? ago)/);

  await other.getByRole('button', { name: 'Sign out' }).click();
  await expect(rows).toHaveCount(1);
  await expect(rows).toContainText('This device');

  // The phone's very next request finds its session gone.
  await phone.goto('/ui/home');
  await expectLoggedOut(phone);
  const user = await phone.request.get('/bodhi/v1/user');
  expect(await user.json()).toEqual({ auth_status: 'logged_out' });
  await laptop.reload();
  await expect(sessionRows(laptop)).toHaveCount(1);
});

test('signing this device out from the sessions page logs this browser out', async ({
  newPage,
}) => {
  const laptop = await newPage({ userAgent: FIREFOX_ON_LINUX });
  await logIn(laptop, DEMO_USER);
  await openSessions(laptop);
  const own = sessionRows(laptop).filter({ hasText: 'This device' });
  await own.getByRole('button', { name: 'Sign out' }).click();
  await expect(laptop.getByText('You are logged out.')).toBeVisible();
  const user = await laptop.request.get('/bodhi/v1/user');
  expect(await user.json()).toEqual({ auth_status: 'logged_out' });
});

test('"Sign out all other sessions" logs out every other browser and keeps this one', async ({
  newPage,
}) => {
  const laptop = await newPage({ userAgent: FIREFOX_ON_LINUX });
  const phone = await newPage({ userAgent: SAFARI_ON_IPHONE });
  const desktop = await newPage({ userAgent: CHROME_ON_WINDOWS });
  for (const page of [laptop, phone, desktop]) await logIn(page, DEMO_USER);

  await openSessions(desktop);
  const rows = sessionRows(desktop);
  await expect(rows).toHaveCount(3);
  await expect(rows.filter({ hasText: 'This device' })).toContainText('Chrome 131 on Windows 10');
  await expect(rows.filter({ hasText: 'Firefox 133 on Linux' })).toHaveCount(1);
  await expect(rows.filter({ hasText: 'Mobile Safari 17 on iOS 17.5' })).toHaveCount(1);

  await desktop.getByRole('button', { name: 'Sign out all other sessions' }).click();
  await expect(rows).toHaveCount(1);
  await expect(rows).toContainText('This device');
  await expect(desktop.getByRole('button', { name: 'Sign out all other sessions' })).toBeHidden();

  for (const page of [laptop, phone]) {
    await page.goto('/ui/home');
    await expectLoggedOut(page);
  }
  await desktop.goto('/ui/home');
  await expect(desktop.getByRole('button', { name: 'Log out' })).toBeVisible();
});
