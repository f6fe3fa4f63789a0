import { randomBytes } from 'node:crypto';
import {
  InvalidEncryptionKeyError,
  parseEncryptionKeys,
  SessionCipher,
  SessionDecryptError,
} from './session-cipher.js';
import { tamperEncrypted } from '@bodhi/testing';

const key = () => randomBytes(32);

describe('SessionCipher', () => {
  const k1 = key();
  const k2 = key();
  const data = JSON.stringify({ access_token: 'secret-access-token', user_id: 'u' });

  it('round-trips with a fresh nonce each time, and the value hides the plaintext', () => {
    const cipher = new SessionCipher([k1]);
    const a = cipher.encrypt('sid', data);
    const b = cipher.encrypt('sid', data);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^enc:v1:[0-9a-f]{8}:/);
    expect(a).not.toContain('secret-access-token');
    expect(cipher.decrypt('sid', a)).toBe(data);
  });

  it('binds the session id: a value moved to another id does not decrypt', () => {
    const cipher = new SessionCipher([k1]);
    expect(() => cipher.decrypt('other-sid', cipher.encrypt('sid', data))).toThrow(
      SessionDecryptError,
    );
  });

  it('rotates keys: the first encrypts, every key decrypts', () => {
    const old = new SessionCipher([k1]).encrypt('sid', data);
    const rotated = new SessionCipher([k2, k1]);
    expect(rotated.decrypt('sid', old)).toBe(data);
    const fresh = rotated.encrypt('sid', data);
    expect(new SessionCipher([k2]).decrypt('sid', fresh)).toBe(data);
    expect(() => new SessionCipher([k1]).decrypt('sid', fresh)).toThrow(
      /key that is not configured/,
    );
  });

  it('detects tampering', () => {
    const cipher = new SessionCipher([k1]);
    const value = cipher.encrypt('sid', data);
    expect(() => cipher.decrypt('sid', tamperEncrypted(value))).toThrow(SessionDecryptError);
    expect(() => cipher.decrypt('sid', 'enc:v1:' + value.split(':')[2] + ':x:y')).toThrow(
      /malformed/,
    );
  });

  it('passes plaintext written before encryption through', () => {
    expect(new SessionCipher([k1]).decrypt('sid', data)).toBe(data);
  });

  it('parses base64 keys and refuses wrong sizes without echoing them', () => {
    expect(parseEncryptionKeys([k1.toString('base64'), k2.toString('base64url')])).toEqual([
      k1,
      k2,
    ]);
    expect(() => parseEncryptionKeys([k1.toString('base64'), 'c2hvcnQta2V5'])).toThrow(
      InvalidEncryptionKeyError,
    );
    expect(() => parseEncryptionKeys(['c2hvcnQta2V5'])).toThrow(
      /^key #1 is not a base64-encoded 256-bit/,
    );
  });
});
