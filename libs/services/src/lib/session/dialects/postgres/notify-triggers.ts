import { createHash } from 'node:crypto';
import {
  companionTable,
  qualifiedTable,
  quoteIdent,
  SessionTableRef,
} from '../../sql/session-sql.js';
import {
  CHANNEL_HASH,
  CHANNEL_PREFIX,
  PAYLOAD_ALL,
  PAYLOAD_PREFIX,
} from '../../cluster/channel-messages.js';
import { pgSessionKey } from './pg-session-key.js';

/** `invalidationChannel` in SQL, for a trigger on a table in the session table's schema. */
function channelSql(table: string): string {
  const where = `TG_TABLE_SCHEMA || '.' || '${table.replace(/'/g, "''")}'`;
  return `'${CHANNEL_PREFIX}' || left(encode(sha256(convert_to(${where}, 'UTF8')), 'hex'), ${CHANNEL_HASH})`;
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
      body: notify(`'${PAYLOAD_PREFIX.session}' || OLD.id`),
    },
    {
      name: named('session_truncate'),
      table: qualifiedTable(ref),
      when: 'TRUNCATE',
      each: 'STATEMENT',
      body: notify(`'${PAYLOAD_ALL}'`),
    },
    {
      name: named('revocation_change'),
      table: revocations,
      when: 'INSERT OR UPDATE',
      each: 'ROW',
      body: notify(`'${PAYLOAD_PREFIX.user}' || ${pgSessionKey('NEW.user_id')}`),
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
