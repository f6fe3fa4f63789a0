import type { Request } from 'express';
import { AUTH_SESSION_KEYS } from './auth-context.js';

type SessionCall = (session: Request['session'], done: (err?: unknown) => void) => void;

/**
 * A store call of express-session's, as a promise that settles once the store has answered,
 * so a route answers only after its session write. When the write fails the request ends in
 * an error answer, and the session is taken off the request: express-session would otherwise
 * retry the write as the response ends (another wait on a locked database, and maybe a login
 * stored after the client was told it failed) and send a cookie for a session not stored.
 */
function sessionCall(req: Request, call: SessionCall): Promise<void> {
  return new Promise((resolve, reject) =>
    call(req.session, (err) => {
      if (!err) return resolve();
      dropSession(req);
      reject(err);
    }),
  );
}

/**
 * Takes the session off a request whose store work failed, as a failed `sessionCall` does:
 * the request answers an error, and express-session neither retries a write nor sends a
 * cookie for it.
 */
export function dropSession(req: Request): void {
  delete (req as { session?: unknown }).session;
}

/** `req.session.save()`: writes the session. */
export function saveSession(req: Request): Promise<void> {
  return sessionCall(req, (session, done) => session.save(done));
}

/**
 * A new session id and an empty session on the request, as `regenerate` makes, but the stored
 * session under the old id is kept (for what it still has to say, e.g. that its login was
 * used); it holds no login, so an id planted there before (fixation) is worth nothing.
 * The new session is written once, by the route's `saveSession`: express-session saves a
 * session whose id changed again as the response ends (it tracks saves of the session it
 * loaded or made, not of this one), a second write, after the answer was sent, whose failure
 * would come too late to answer. Its saves therefore write only what changed since the last.
 */
export function renewSessionId(req: Request): void {
  req.sessionStore.generate(req);
  writeOnlyChanges(req.session);
}

type Session = Request['session'];

/** What a save writes, less the cookie, whose expiry moves as the response ends (as express-session compares). */
const contentOf = (session: Session): string =>
  JSON.stringify(session, function (key, value: unknown) {
    return this === session && key === 'cookie' ? undefined : value;
  });

/** Makes `session.save` skip the store when nothing changed since its last successful save. */
function writeOnlyChanges(session: Session): void {
  const save = session.save;
  let saved: string | undefined;
  Object.defineProperty(session, 'save', {
    configurable: true,
    enumerable: false,
    writable: true,
    value(this: Session, done?: (err?: unknown) => void): Session {
      const content = contentOf(this);
      if (content === saved) {
        if (done) process.nextTick(done);
        return this;
      }
      return save.call(this, (err?: unknown) => {
        if (!err) saved = content;
        done?.(err);
      });
    },
  });
}

/** `req.session.destroy()`: removes the stored session. */
export function destroySession(req: Request): Promise<void> {
  return sessionCall(req, (session, done) => session.destroy(done));
}

/** Ends the login held by the session (keeps the session itself) and persists that. */
export async function clearLogin(req: Request): Promise<void> {
  for (const key of AUTH_SESSION_KEYS) delete req.session[key];
  await saveSession(req);
}
