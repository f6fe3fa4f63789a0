import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** Stored form: `enc:v1:<key id>:<nonce>:<ciphertext+tag>` (base64url parts). */
const PREFIX = 'enc:v1:';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export class InvalidEncryptionKeyError extends Error {
  constructor(index: number) {
    // Never echo the key itself.
    super(`key #${index + 1} is not a base64-encoded 256-bit (32-byte) key`);
    this.name = 'InvalidEncryptionKeyError';
  }
}

/** A stored value that cannot be decrypted: unknown key, tampered, or moved to another id. */
export class SessionDecryptError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'SessionDecryptError';
  }
}

interface Key {
  id: string;
  bytes: Buffer;
}

/** Parses base64 keys (standard or url-safe alphabet) into 32-byte keys. */
export function parseEncryptionKeys(keys: readonly string[]): Buffer[] {
  return keys.map((key, i) => {
    const bytes = Buffer.from(key.trim(), 'base64');
    if (bytes.length !== KEY_BYTES) throw new InvalidEncryptionKeyError(i);
    return bytes;
  });
}

/**
 * Encryption at rest of session data: AES-256-GCM, a random nonce per write, and the
 * session's key (the hash of its id; rows of releases before hashed keys, the id itself) as
 * associated data — a row copied under another key does not decrypt. The
 * first key encrypts; every key decrypts (the stored key id picks it), so keys rotate
 * without logging anyone out. Values written before encryption was on (plain JSON) still
 * read, and are encrypted on their next save.
 */
export class SessionCipher {
  private readonly keys: Key[];

  constructor(keys: readonly Buffer[]) {
    if (keys.length === 0) throw new Error('SessionCipher needs at least one key');
    this.keys = keys.map((bytes) => ({
      bytes,
      id: createHash('sha256').update(bytes).digest('hex').slice(0, 8),
    }));
  }

  static isEncrypted(stored: string): boolean {
    return stored.startsWith(PREFIX);
  }

  encrypt(sid: string, plaintext: string): string {
    const key = this.keys[0];
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.bytes, nonce);
    cipher.setAAD(Buffer.from(sid, 'utf8'));
    const body = Buffer.concat([
      cipher.update(plaintext, 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    return `${PREFIX}${key.id}:${nonce.toString('base64url')}:${body.toString('base64url')}`;
  }

  /** Plain values pass through; encrypted ones decrypt or throw SessionDecryptError. */
  decrypt(sid: string, stored: string): string {
    if (!SessionCipher.isEncrypted(stored)) return stored;
    const [keyId, nonceText, bodyText] = stored.slice(PREFIX.length).split(':');
    const key = this.keys.find((k) => k.id === keyId);
    if (!key) throw new SessionDecryptError('encrypted with a key that is not configured');
    const nonce = Buffer.from(nonceText ?? '', 'base64url');
    const body = Buffer.from(bodyText ?? '', 'base64url');
    if (nonce.length !== NONCE_BYTES || body.length < TAG_BYTES)
      throw new SessionDecryptError('malformed ciphertext');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.bytes, nonce);
      decipher.setAAD(Buffer.from(sid, 'utf8'));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      return Buffer.concat([
        decipher.update(body.subarray(0, body.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new SessionDecryptError(
        'ciphertext failed authentication (tampered, or stored under another id)',
      );
    }
  }
}
