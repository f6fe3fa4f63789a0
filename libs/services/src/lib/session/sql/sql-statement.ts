import type { SessionDbKind } from '../config/session-db-url.util.js';
import { sessionDialect } from '../dialects/index.js';

/** What a write may have changed, for the session cache to drop: by key, by user, or all. */
export type StatementEffect = { key: string } | { userId: string } | 'all';

/**
 * One statement of the store, its parameters by name. `sql` is written once for both
 * dialects with positional placeholders; `bind` puts the named parameters in their order
 * (one array, no parsing per call), so the same `sql` binds to PostgreSQL's `$n` and
 * SQLite's `?` alike.
 */
export interface Statement<P extends object> {
  readonly sql: string;
  readonly bind: (params: P) => unknown[];
  /**
   * What of the session cache a write makes stale, from its parameters: set on every
   * statement that changes a session row or a user's revocation. The writer's own cache
   * drops it at once, before its answer (CachedStatements); the table's triggers tell the
   * other instances.
   */
  readonly effect?: (params: P) => StatementEffect;
  /**
   * A write that ends access (a logout, ending sessions, clearing, revoking a user): its
   * writer does not return until the change has been announced back to its own listener
   * (SessionCache.announced), so that by the time the request is answered every instance's
   * listener has been sent it, and has most likely dropped it already.
   */
  readonly ends?: true;
}

/** A statement without parameters takes `{}`. */
export type NoParams = Record<string, never>;

/**
 * Statements by name. The name is the `operation` label of the store metrics.
 * (`any`: a set holds statements of different parameters.)
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type StatementSet = Record<string, Statement<any>>;

/** The name of a statement of `S`. */
export type StatementName<S extends StatementSet> = keyof S & string;

/** The parameters of each statement of `S`, by name. */
export type StatementParams<S extends StatementSet> = {
  [N in keyof S]: S[N] extends Statement<infer P> ? P : never;
};

/** In a statement's SQL, the placeholder of each parameter, numbered as it is used. */
export type Placeholders<P extends object> = { readonly [K in keyof P]-?: string };

/** What a statement adds to its SQL: its effect on the cache, whether it ends access. */
export type StatementOptions<P extends object> = Pick<Statement<P>, 'effect' | 'ends'>;

/**
 * The statement builder of a dialect: `statement<{ key: string; now: number }>((p) =>
 * \`… WHERE id = ${p.key} AND expires_at > ${p.now}\`)`. Each use of `p.<name>` is the next
 * placeholder (one parameter used twice is bound twice), in the order the SQL reads them.
 */
export function statementBuilder(kind: SessionDbKind) {
  const dialect = sessionDialect(kind).sql;
  return function statement<P extends object = NoParams>(
    build: (p: Placeholders<P>) => string,
    options: StatementOptions<P> = {},
  ): Statement<P> {
    const order: string[] = [];
    const placeholders = new Proxy({} as Placeholders<P>, {
      get: (_, name) => {
        if (typeof name !== 'string') throw new TypeError('a statement parameter needs a name');
        order.push(name);
        return dialect.param(order.length);
      },
    });
    const sql = build(placeholders);
    const bind = (params: P) => order.map((name) => (params as Record<string, unknown>)[name]);
    return { sql, bind, ...options };
  };
}

export type StatementBuilder = ReturnType<typeof statementBuilder>;

/**
 * Deletes up to `batchSize` rows of `table` expired at `now` (by `expires_at`), selected by
 * `key`: one bounded batch of a prune.
 */
export function pruneExpired(statement: StatementBuilder, table: string, key: string) {
  return statement<{ now: number; batchSize: number }>(
    (p) =>
      `DELETE FROM ${table} WHERE ${key} IN ` +
      `(SELECT ${key} FROM ${table} WHERE expires_at <= ${p.now} LIMIT ${p.batchSize})`,
  );
}
