import type { Page } from '@playwright/test';
import { DEMO_ADMIN, DEMO_USER } from '@bodhi/testing';
import { expect, test } from './fixtures.js';
import {
  expectLoggedInAs,
  expectLoggedOut,
  logIn,
  logInWithoutForm,
  openSignInForm,
  signIn,
} from './bodhi-ui.js';

/** What the admin's page gets back from `PUT /bodhi/v1/users/:id/role` (a same-origin fetch). */
function changeRole(adminPage: Page, userId: string, role: string) {
  return adminPage.evaluate(
    async ({ userId, role }) => {
      const res = await fetch(`/bodhi/v1/users/${encodeURIComponent(userId)}/role`, {
        method: 'PUT',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ role }),
      });
      const body = (await res.json()) as {
        user_id?: string;
        role?: string;
        sessions_cleared?: number;
      };
      return { status: res.status, body };
    },
    { userId, role },
  );
}

test('logs in through the provider, stays logged in on reload, and logs out', async ({ page }) => {
  await logIn(page, DEMO_USER);
  await expectLoggedInAs(page, 'Uma User', 'resource_user');
  await expect(page.getByText(DEMO_USER.username)).toBeVisible();

  await page.reload();
  await expectLoggedInAs(page, 'Uma User', 'resource_user');

  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL('/ui/login');
  await expect(page.getByRole('button', { name: 'Log in' })).toBeVisible();

  await page.goto('/ui/home');
  await expectLoggedOut(page);
});

test('another browser is not logged in by someone else’s login', async ({ page, newPage }) => {
  await logIn(page, DEMO_USER);

  const other = await newPage();
  await other.goto('/ui/home');
  await expectLoggedOut(other);

  await page.reload();
  await expectLoggedInAs(page, 'Uma User', 'resource_user');
});

test('an admin’s role change logs the user out, and the next login has the new role', async ({
  page: userPage,
  newPage,
}) => {
  await logIn(userPage, DEMO_USER);
  const me = await userPage.request.get('/bodhi/v1/user');
  expect(me.ok()).toBe(true);
  const { user_id: userId } = (await me.json()) as { user_id: string };
  expect(userId).toBeTruthy();

  const adminPage = await newPage();
  await logIn(adminPage, DEMO_ADMIN);
  await expectLoggedInAs(adminPage, 'Ada Admin', 'resource_admin');

  const change = await changeRole(adminPage, userId, 'resource_power_user');
  expect(change.status).toBe(200);
  expect(change.body).toMatchObject({ user_id: userId, role: 'resource_power_user' });
  expect(change.body.sessions_cleared ?? 0).toBeGreaterThanOrEqual(1);

  await userPage.reload();
  await expectLoggedOut(userPage);

  // The provider still remembers this browser's sign-in: Log in goes straight home, and the
  // new tokens carry the new role.
  await logInWithoutForm(userPage);
  await expectLoggedInAs(userPage, 'Uma User', 'resource_power_user');

  // Put the role back, as the admin would: the other tests expect a plain user.
  const restore = await changeRole(adminPage, userId, 'resource_user');
  expect(restore.status).toBe(200);
});

test('a wrong password shows the provider’s error and stays on the form', async ({
  page,
  stack,
}) => {
  await openSignInForm(page);
  await signIn(page, { username: DEMO_USER.username, password: 'not-the-password' });

  await expect(page.getByRole('alert')).toHaveText('Invalid username or password');
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
  await expect(page.getByLabel('Username')).toHaveValue(DEMO_USER.username);
  await expect(page.getByLabel('Password')).toBeEmpty();
  await expect(page).toHaveURL(
    (url) => url.origin === stack.issuer && url.pathname.startsWith('/interaction/'),
  );
});
