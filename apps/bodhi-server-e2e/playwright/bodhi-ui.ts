/**
 * What a person does with the Bodhi pages, in their words: the buttons and fields they see.
 */
import type { Page } from '@playwright/test';
import { expect } from './fixtures.js';

export interface Credentials {
  username: string;
  password: string;
}

/** From /ui/login to the provider's sign-in form. */
export async function openSignInForm(page: Page): Promise<void> {
  await page.goto('/ui/login');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
}

/** Fills and submits the provider's form (the page must be showing it). */
export async function signIn(page: Page, { username, password }: Credentials): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** The whole login: Log in → provider's form → back on the home page, logged in. */
export async function logIn(page: Page, credentials: Credentials): Promise<void> {
  await openSignInForm(page);
  await signIn(page, credentials);
  await expect(page).toHaveURL('/ui/home');
  await expect(page.getByRole('button', { name: 'Log out' })).toBeVisible();
}

/**
 * Log in from a browser the provider still remembers (its own sign-in outlives the Bodhi
 * session): Log in → straight back home, no form.
 */
export async function logInWithoutForm(page: Page): Promise<void> {
  await page.goto('/ui/login');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL('/ui/home');
  await expect(page.getByRole('button', { name: 'Log out' })).toBeVisible();
}

/** The home page shows this person, logged in with this role. */
export async function expectLoggedInAs(page: Page, name: string, role: string): Promise<void> {
  await expect(page.getByText(`Logged in as ${name}`)).toBeVisible();
  await expect(page.locator('#role')).toHaveText(role);
}

/** The home page says the visitor is logged out. */
export async function expectLoggedOut(page: Page): Promise<void> {
  await expect(page.getByText('You are logged out.')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Log out' })).toBeHidden();
}

/** From the home page to "Your sessions", through its link. */
export async function openSessions(page: Page): Promise<void> {
  await page.goto('/ui/home');
  await page.getByRole('link', { name: 'Your sessions' }).click();
  await expect(page).toHaveURL('/ui/sessions');
  await expect(page.getByRole('heading', { name: 'Your sessions' })).toBeVisible();
}

/** The sessions page's rows, one per session. */
export function sessionRows(page: Page) {
  return page.getByRole('list', { name: 'Sessions' }).getByRole('listitem');
}
