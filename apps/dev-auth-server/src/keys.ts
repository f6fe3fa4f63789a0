// The provider's signing key: one RSA key, used with RS256 for ID tokens and JWT access
// tokens and published (public half only) at the JWKS URI. A fresh key is generated at every
// start unless DEV_AUTH_KEYS_FILE names a file, in which case the key is read from it, or
// generated once and written there (mode 600), so tokens stay verifiable across restarts.
import { readFile, writeFile } from 'node:fs/promises';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

export const SIGNING_ALG = 'RS256';

/** The private members of an RSA JWK; everything else is public. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const;

export async function generateSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: SIGNING_ALG, use: 'sig' };
}

/** The key from `file` when given (created on first use), else a new one. */
export async function loadSigningKey(file: string | undefined): Promise<JWK> {
  if (file === undefined) return generateSigningKey();

  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text === undefined) {
    const key = await generateSigningKey();
    await writeFile(file, `${JSON.stringify({ keys: [key] }, null, 2)}\n`, { mode: 0o600 });
    return key;
  }

  const key = (JSON.parse(text) as { keys?: JWK[] }).keys?.[0];
  if (key?.kty !== 'RSA' || typeof key.d !== 'string') {
    throw new Error(`keys file ${file} must hold { "keys": [ <private RSA JWK> ] }`);
  }
  return { ...key, kid: key.kid ?? (await calculateJwkThumbprint(key)), alg: SIGNING_ALG };
}

export function publicJwk(key: JWK): JWK {
  const copy: JWK = { ...key };
  for (const member of PRIVATE_MEMBERS) delete copy[member];
  return copy;
}
