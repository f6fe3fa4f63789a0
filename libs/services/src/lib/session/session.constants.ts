import { Inject } from '@nestjs/common';

/** Cookie carrying the signed session id, as BodhiApp names it (served over http). */
export const SESSION_COOKIE_NAME = 'bodhiapp_session_id';
/**
 * The cookie's name served over https. A browser keeps a `__Host-` cookie only when it is
 * Secure, for Path=/ and without a Domain: no sibling host (a.example.com beside
 * bodhi.example.com) can set one this server reads, so none can plant a session of its
 * choosing (a login in progress it started) in a victim's browser.
 */
export const SECURE_SESSION_COOKIE_NAME = `__Host-${SESSION_COOKIE_NAME}`;

/** Token of the session store's TypeORM DataSource (already initialized and migrated). */
export const SESSION_DATA_SOURCE = Symbol('SESSION_DATA_SOURCE');
/** Token of the resolved (defaulted, validated) session options. */
export const RESOLVED_SESSION_OPTIONS = Symbol('RESOLVED_SESSION_OPTIONS');

export const InjectSessionDataSource = () => Inject(SESSION_DATA_SOURCE);
export const InjectResolvedSessionOptions = () => Inject(RESOLVED_SESSION_OPTIONS);
/**
 * Token of the BodhiMetrics the session module's providers count into: the application's
 * (MetricsModule) when there is one, else one private to the module, which nobody serves.
 */
export const SESSION_METRICS = Symbol('SESSION_METRICS');
/**
 * Token of the instance's session cache and its listener (`SessionCacheRuntime`), started at
 * bootstrap; null when the cache is off (SQLite, BODHI_SESSION_CACHE=off, a pooler without
 * a listen URL).
 */
export const SESSION_CACHE = Symbol('SESSION_CACHE');
