import type { Request } from 'express';
import { AUTH_SESSION_KEYS } from './auth-context.js';

/** `req.session.save()` as a promise. */
export function saveSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) =>
    req.session.save((err) => (err ? reject(err) : resolve())),
  );
}

/** Ends the login held by the session (keeps the session itself) and persists that. */
export async function clearLogin(req: Request): Promise<void> {
  for (const key of AUTH_SESSION_KEYS) delete req.session[key];
  await saveSession(req);
}
