// The one client's metadata, kept in the provider's adapter rather than in its static
// configuration, so that it can change while the provider runs: a server that binds port 0
// knows its redirect URI only once it listens, and registers it then through the admin API,
// as an operator adds one to a Keycloak client. oidc-provider reads an adapter client anew
// whenever its stored metadata changes.
import type { Adapter, ClientMetadata } from 'oidc-provider';

/** A bound on registrations: each restart of a test server on port 0 adds one. */
export const MAX_REDIRECT_URIS = 500;

/** A redirect URI the registry refuses; the message is fit for an API answer. */
export class RedirectUriError extends Error {
  override readonly name = 'RedirectUriError';
}

export interface ClientRegistry {
  /** Stores the initial metadata; called once, before the provider serves. */
  init(metadata: ClientMetadata): Promise<void>;
  /**
   * Registers `uri` (kept if already there) and resolves with the whole list. Throws
   * RedirectUriError for a URI oidc-provider would refuse, or past MAX_REDIRECT_URIS.
   */
  addRedirectUri(uri: string): Promise<string[]>;
}

export function clientRegistry(options: {
  clientId: string;
  /** oidc-provider's storage of the `Client` model. */
  store: Adapter;
  /** oidc-provider's own metadata check (Provider.Client.validate): throws when invalid. */
  validate: (metadata: ClientMetadata) => Promise<void>;
}): ClientRegistry {
  const { clientId, store, validate } = options;
  const current = async () => {
    const metadata = (await store.find(clientId)) as ClientMetadata | undefined;
    if (!metadata) throw new Error(`client ${clientId} is not stored`);
    return metadata;
  };
  // An addition reads, validates and writes without waiting on any I/O (the storage is in
  // memory, the client has no sector identifier URI to fetch): it runs to its end before
  // another request is read, so two servers registering at once never drop each other's URI.

  return {
    init: (metadata) => store.upsert(clientId, { ...metadata }),
    addRedirectUri: async (uri) => {
      const metadata = await current();
      const uris = metadata.redirect_uris ?? [];
      if (uris.includes(uri)) return [...uris];
      if (uris.length >= MAX_REDIRECT_URIS)
        throw new RedirectUriError(`at most ${MAX_REDIRECT_URIS} redirect URIs`);
      const next = { ...metadata, redirect_uris: [...uris, uri] };
      try {
        await validate(next);
      } catch (e) {
        const { error_description: why, message } = e as Error & { error_description?: string };
        throw new RedirectUriError(why ?? message);
      }
      await store.upsert(clientId, next);
      return [...next.redirect_uris];
    },
  };
}
