// oidc-provider's storage (sessions, interactions, grants, codes, tokens) kept in a Map owned
// by one server instance. The library ships a similar in-memory adapter but warns loudly on
// every start; this one is explicit and isolated per instance, so servers started side by side
// in tests share nothing.
//
// Consequence, by design of a dev tool: restarting the provider forgets every session and
// grant, so refresh tokens issued before the restart are rejected ("invalid_grant") and users
// are logged out at their next refresh.
//
// Besides the adapter, the storage answers which grants an account holds, which
// oidc-provider has no query for: the admin API's logout revokes them all.
import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider';

interface Entry {
  payload: AdapterPayload;
  /** Epoch ms; Infinity when the model has no expiry. */
  expiresAt: number;
}

/** Models whose entries belong to a grant and go when the grant is revoked. */
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

export interface MemoryStorage {
  /** oidc-provider's `adapter` setting. */
  adapter: AdapterFactory;
  /** The ids of the grants `accountId` holds (of any client), expired ones left out. */
  grantIdsOf(accountId: string): string[];
}

const keyOf = (model: string, id: string) => `${model}:${id}`;

export function createMemoryStorage(): MemoryStorage {
  const entries = new Map<string, Entry>();
  /** Secondary indexes: session uid → key, user code → key, grant id → keys, account id →
   * grant ids. */
  const byUid = new Map<string, string>();
  const byUserCode = new Map<string, string>();
  const byGrant = new Map<string, Set<string>>();
  const byAccount = new Map<string, Set<string>>();

  const read = (key: string | undefined): AdapterPayload | undefined => {
    if (key === undefined) return undefined;
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry.payload;
  };

  const adapter = (model: string): Adapter => {
    const keyFor = (id: string) => keyOf(model, id);

    return {
      async upsert(id, payload, expiresIn) {
        const key = keyFor(id);
        const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
        entries.set(key, { payload, expiresAt });
        if (model === 'Session' && payload.uid) byUid.set(payload.uid, key);
        if (payload.userCode) byUserCode.set(payload.userCode, key);
        if (GRANTABLE.has(model) && payload.grantId) {
          const keys = byGrant.get(payload.grantId) ?? new Set<string>();
          keys.add(key);
          byGrant.set(payload.grantId, keys);
        }
        if (model === 'Grant' && payload.accountId) {
          const grants = byAccount.get(payload.accountId) ?? new Set<string>();
          grants.add(id);
          byAccount.set(payload.accountId, grants);
        }
      },
      async find(id) {
        return read(keyFor(id));
      },
      async findByUid(uid) {
        return read(byUid.get(uid));
      },
      async findByUserCode(userCode) {
        return read(byUserCode.get(userCode));
      },
      async consume(id) {
        const payload = read(keyFor(id));
        if (payload) payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id) {
        const accountId =
          model === 'Grant' ? entries.get(keyFor(id))?.payload.accountId : undefined;
        if (accountId) byAccount.get(accountId)?.delete(id);
        entries.delete(keyFor(id));
      },
      async revokeByGrantId(grantId) {
        for (const key of byGrant.get(grantId) ?? []) entries.delete(key);
        byGrant.delete(grantId);
      },
    };
  };

  return {
    adapter,
    grantIdsOf(accountId) {
      const grants = byAccount.get(accountId) ?? new Set<string>();
      for (const id of grants) if (!read(keyOf('Grant', id))) grants.delete(id);
      return [...grants];
    },
  };
}
