import { SESSION_COOKIE_NAME } from '@bodhi/services';
import type { Response } from 'express';

/** Tells the browser to drop the session cookie of a session that has ended. */
export function clearSessionCookie(res: Response): void {
  res.clearCookie(SESSION_COOKIE_NAME, { path: '/', httpOnly: true, sameSite: 'strict' });
}
