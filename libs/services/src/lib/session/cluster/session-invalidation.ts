import { createHash } from 'node:crypto';
import { companionTable, qualifiedTable, quoteIdent, SessionTableRef } from '../sql/session-sql.js';
import { pgSessionKey, sessionKey } from '../store/session-key.js';

/**
 * What one PostgreSQL notification tells the instances sharing a session table: a session
 * changed or ended (by key), a user's revocation moved (by the hash of the user id), every
 * row went (a TRUNCATE); or, between the instances' listeners, one's probe of its own
 * listener (which also tells the others it is there, and whether it serves), an ending's
 * request that every serving instance say it has heard everything before it (`barrier`),
 * and one instance's answer (`ack`). Payloads carry keys, hashes and random tokens only,
 * never data: any role of the database may LISTEN on any channel.
 */
export type Invalidation =
  | { kind: 'session'; key: string }
  | { kind: 'user'; userKey: string }
  | { kind: 'all' }
  | { kind: 'probe'; token: string }
  | { kind: 'barrier'; token: string }
  | { kind: 'ack'; token: string };

const PREFIX = { session: 's:', user: 'u:', probe: 'p:', barrier: 'b:', ack: 'k:' } as const;
const ALL = '*';

const CHANNEL_PREFIX = 'bodhi_session_';
/** Hex digits of the hash in a channel's name. */
const CHANNEL_HASH = 20;

/**
 * The channel a session table's changes are announced on: one per table, by the schema it
 * is really in (`schema`, as `tableSchema` finds it; a configuration that leaves the schema
 * to the search path names the same channel as one that spells it) and its name, so two
 * tables in one database never drop each other's entries. A hash keeps it within
 * PostgreSQL's 63-byte identifiers. The triggers compute the same name in SQL.
 */
export function invalidationChannel(schema: string, table: string): string {
  const hash = createHash('sha256').update(`${schema}.${table}`, 'utf8').digest('hex');
  return CHANNEL_PREFIX + hash.slice(0, CHANNEL_HASH);
}

/**
 * The `application_name` of the connection that listens on `channel`: an operator (and a
 * test) finds an instance's listener of one table by it in pg_stat_activity, whatever that
 * connection ran last (its health probes run on it).
 */
export function listenerApplicationName(channel: string): string {
  return `bodhi-session-listener ${channel}`;
}

/** `invalidationChannel` in SQL, for a trigger on a table in the session table's schema. */
function channelSql(table: string): string {
  const where = `TG_TABLE_SCHEMA || '.' || '${table.replace(/'/g, "''")}'`;
  return `'${CHANNEL_PREFIX}' || left(encode(sha256(convert_to(${where}, 'UTF8')), 'hex'), ${CHANNEL_HASH})`;
}

/** The schema the session table of `ref` is in, as PostgreSQL resolves its name now. */
export async function tableSchema(
  db: { query(sql: string, params: unknown[]): Promise<{ rows: Record<string, unknown>[] }> },
  ref: SessionTableRef,
): Promise<string> {
  const { rows } = await db.query(
    'SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ' +
      'WHERE c.oid = to_regclass($1)',
    [qualifiedTable(ref)],
  );
  if (rows.length === 0) throw new Error(`session table ${qualifiedTable(ref)} not found`);
  return String(rows[0].schema);
}

/**
 * The key a user's cache entries are dropped by: the SHA-256 of the user id in hex (the
 * hash of session keys), so the channel never shows a user id.
 */
export function userKey(userId: string): string {
  return sessionKey(userId);
}

/** The payload of `message`. */
export function invalidationPayload(message: Invalidation): string {
  switch (message.kind) {
    case 'session':
      return PREFIX.session + message.key;
    case 'user':
      return PREFIX.user + message.userKey;
    case 'all':
      return ALL;
    case 'probe':
    case 'barrier':
    case 'ack':
      return PREFIX[message.kind] + message.token;
  }
}

/**
 * The message of a payload; anything else (another release's, a stranger's NOTIFY on the
 * channel) is `all`: an instance that cannot tell what changed drops everything.
 */
export function parseInvalidation(payload: string): Invalidation {
  if (payload.startsWith(PREFIX.session)) {
    return { kind: 'session', key: payload.slice(PREFIX.session.length) };
  }
  if (payload.startsWith(PREFIX.user)) {
    return { kind: 'user', userKey: payload.slice(PREFIX.user.length) };
  }
  for (const kind of ['probe', 'barrier', 'ack'] as const) {
    if (payload.startsWith(PREFIX[kind]))
      return { kind, token: payload.slice(PREFIX[kind].length) };
  }
  return { kind: 'all' };
}

interface NotifyTrigger {
  /** The trigger's name, and its function's (in the table's schema). */
  name: string;
  table: string;
  when: string;
  each: 'ROW' | 'STATEMENT';
  /** PL/pgSQL run for each row (or statement) it fires on. */
  body: string;
}

/**
 * The triggers that announce every change of a session row and of a user's revocation,
 * in the transaction that makes it (PostgreSQL delivers a notification at its commit, and
 * never one of a rollback): whatever changes the tables — the store, the admin CLI, an
 * operator's SQL, an older release — is announced, and no statement of the store's can
 * forget to. INSERTs of sessions are not: no instance caches a row that did not exist.
 */
function notifyTriggers(ref: SessionTableRef): NotifyTrigger[] {
  const notify = (payload: string) => `PERFORM pg_notify(${channelSql(ref.table)}, ${payload});`;
  // Fixed-length names, whatever the table's (63-byte identifiers would cut long ones to one).
  const named = (what: string) =>
    `bodhi_${what}_${createHash('sha256').update(ref.table, 'utf8').digest('hex').slice(0, 16)}`;
  const revocations = qualifiedTable(companionTable(ref, 'userRevocations'));
  return [
    {
      name: named('session_change'),
      table: qualifiedTable(ref),
      when: 'UPDATE OR DELETE',
      each: 'ROW',
      body: notify(`'${PREFIX.session}' || OLD.id`),
    },
    {
      name: named('session_truncate'),
      table: qualifiedTable(ref),
      when: 'TRUNCATE',
      each: 'STATEMENT',
      body: notify(`'${ALL}'`),
    },
    {
      name: named('revocation_change'),
      table: revocations,
      when: 'INSERT OR UPDATE',
      each: 'ROW',
      body: notify(`'${PREFIX.user}' || ${pgSessionKey('NEW.user_id')}`),
    },
  ];
}

/** The function of a trigger, in the session table's schema. */
const triggerFunction = (ref: SessionTableRef, name: string) =>
  ref.schema ? `${quoteIdent(ref.schema)}.${quoteIdent(name)}` : quoteIdent(name);

/** Installs the notifying triggers; idempotent, for the migration (and a re-run of it). */
export function invalidationTriggerSql(ref: SessionTableRef): string[] {
  return notifyTriggers(ref).flatMap(({ name, table, when, each, body }) => {
    const fn = triggerFunction(ref, name);
    return [
      `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${body} RETURN NULL; END $$`,
      `DROP TRIGGER IF EXISTS ${quoteIdent(name)} ON ${table}`,
      `CREATE TRIGGER ${quoteIdent(name)} AFTER ${when} ON ${table} FOR EACH ${each} EXECUTE FUNCTION ${fn}()`,
    ];
  });
}

/** Undoes `invalidationTriggerSql`. */
export function dropInvalidationTriggerSql(ref: SessionTableRef): string[] {
  return notifyTriggers(ref).flatMap(({ name, table }) => [
    `DROP TRIGGER IF EXISTS ${quoteIdent(name)} ON ${table}`,
    `DROP FUNCTION IF EXISTS ${triggerFunction(ref, name)}()`,
  ]);
}
