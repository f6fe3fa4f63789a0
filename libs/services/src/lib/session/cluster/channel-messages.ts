import { createHash } from 'node:crypto';
import { qualifiedTable, SessionTableRef } from '../sql/session-sql.js';
import { sessionKey } from '../store/session-key.js';

/**
 * What changed in a session table, as one PostgreSQL notification tells the instances
 * sharing it: a session changed or ended (by key), a user's revocation moved (by the hash
 * of the user id), every row went (a TRUNCATE). What a cache drops.
 */
export type SessionChange =
  { kind: 'session'; key: string } | { kind: 'user'; userKey: string } | { kind: 'all' };

/**
 * What the instances' listeners say to each other on the channel: one's probe of its own
 * listener (which also tells the others it is there, and whether it serves), an ending's
 * request that every serving instance say it has heard everything before it (`barrier`),
 * and one instance's answer (`ack`). Each `token` is a signed body (`ChannelSigner`, in the
 * kind's own domain; the bodies: `peer-bodies.ts`), opened by `ClusterPeers`.
 */
export type PeerMessage =
  | { kind: 'probe'; token: string }
  | { kind: 'barrier'; token: string }
  | { kind: 'ack'; token: string };

/**
 * One notification on a session table's channel: a change (the triggers' and the
 * instances' writes), or the listeners' own messages. Payloads carry keys, hashes and
 * random tokens only, never data: any role of the database may LISTEN on any channel.
 */
export type ChannelMessage = { kind: 'change'; change: SessionChange } | PeerMessage;

/**
 * What a payload starts with, by kind; `PAYLOAD_ALL` is a whole payload. The notifying
 * triggers write the changes' (other releases parse them): never change them. The peer
 * messages' tokens changed in issue #28 (signed per kind, with freshness); an earlier
 * release's do not verify here, nor ours there, and are ignored both ways.
 */
export const PAYLOAD_PREFIX = {
  session: 's:',
  user: 'u:',
  probe: 'p:',
  barrier: 'b:',
  ack: 'k:',
} as const;
export const PAYLOAD_ALL = '*';

/** What a channel's name starts with; the triggers compute the same name in SQL. */
export const CHANNEL_PREFIX = 'bodhi_session_';
/** Hex digits of the hash in a channel's name. */
export const CHANNEL_HASH = 20;

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
export function channelPayload(message: ChannelMessage): string {
  switch (message.kind) {
    case 'change':
      return changePayload(message.change);
    case 'probe':
    case 'barrier':
    case 'ack':
      return PAYLOAD_PREFIX[message.kind] + message.token;
  }
}

function changePayload(change: SessionChange): string {
  switch (change.kind) {
    case 'session':
      return PAYLOAD_PREFIX.session + change.key;
    case 'user':
      return PAYLOAD_PREFIX.user + change.userKey;
    case 'all':
      return PAYLOAD_ALL;
  }
}

/**
 * The message of a payload; anything else (another release's, a stranger's NOTIFY on the
 * channel) is a change of `all`: an instance that cannot tell what changed drops everything.
 */
export function parseChannelMessage(payload: string): ChannelMessage {
  for (const kind of ['probe', 'barrier', 'ack'] as const) {
    if (payload.startsWith(PAYLOAD_PREFIX[kind]))
      return { kind, token: payload.slice(PAYLOAD_PREFIX[kind].length) };
  }
  return { kind: 'change', change: parseChange(payload) };
}

function parseChange(payload: string): SessionChange {
  if (payload.startsWith(PAYLOAD_PREFIX.session)) {
    return { kind: 'session', key: payload.slice(PAYLOAD_PREFIX.session.length) };
  }
  if (payload.startsWith(PAYLOAD_PREFIX.user)) {
    return { kind: 'user', userKey: payload.slice(PAYLOAD_PREFIX.user.length) };
  }
  return { kind: 'all' };
}
