import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AuthSettings, requireAuthSettings } from '../auth/auth.settings.js';
import { ensureDirectory } from '../util/fs.util.js';
import type { BodhiSettings, SessionSettings } from './setting.schema.js';
import type { ServerSettings } from './server.settings.js';
import { SESSION_ENCRYPTION_KEY_FILE, SESSION_SECRET_FILE } from './setting.constants.js';
import { BODHI_SETTINGS } from './setting.tokens.js';

/**
 * The validated settings, one typed section per concern. Construction creates BODHI_HOME,
 * so the default SQLite file and the generated cookie secret always have a place to live.
 */
@Injectable()
export class SettingService {
  private readonly logger = new Logger(SettingService.name);
  private readonly generated = new Map<string, string>();
  private boundPort?: number;
  readonly server: ServerSettings;
  readonly session: SessionSettings;

  constructor(@Inject(BODHI_SETTINGS) private readonly settings: BodhiSettings) {
    this.server = settings.server;
    this.session = settings.session;
    ensureDirectory(settings.server.home);
  }

  /** Identity-provider settings; a missing one stops boot naming the variable. */
  get auth(): AuthSettings {
    return requireAuthSettings(this.settings.auth);
  }

  isDevelopment(): boolean {
    return this.server.envType === 'development';
  }

  /**
   * Records the port the server listens on. With BODHI_PORT=0 (and no BODHI_PUBLIC_PORT) the
   * kernel picks it, so the public URL, the redirect URI sent to the provider and the
   * same-origin check know it only from now on.
   */
  listening(port: number): void {
    this.boundPort = port;
  }

  /**
   * Origin browsers use to reach the server (`BODHI_PUBLIC_*`, defaulting to the bind
   * address; a public port of 0 is the port the server was given, once listening).
   */
  publicUrl(): string {
    const { publicScheme, publicHost, publicPort } = this.server;
    const port = publicPort === 0 ? (this.boundPort ?? 0) : publicPort;
    const defaultPort = publicScheme === 'https' ? 443 : 80;
    return `${publicScheme}://${publicHost}${port === defaultPort ? '' : `:${port}`}`;
  }

  /**
   * The cookie-signing secret. A standalone install without `BODHI_SESSION_SECRET` gets a
   * random one kept in `$BODHI_HOME/session_secret` (mode 600), so logins survive restarts.
   * Cluster mode never gets here without a configured secret (the schema requires it).
   */
  sessionSecret(): string {
    return (
      this.session.secret ??
      this.generatedSecret(SESSION_SECRET_FILE, 'a cookie-signing secret', 'hex')
    );
  }

  /**
   * The keys encrypting session data at rest. A standalone install without
   * `BODHI_SESSION_ENCRYPTION_KEYS` gets a random key kept in
   * `$BODHI_HOME/session_encryption_key` (mode 600): sessions are encrypted by default.
   * Cluster mode never gets here without configured keys (the schema requires them).
   */
  sessionEncryptionKeys(): string[] {
    if (this.session.encryptionKeys.length > 0) return this.session.encryptionKeys;
    return [
      this.generatedSecret(SESSION_ENCRYPTION_KEY_FILE, 'a session encryption key', 'base64'),
    ];
  }

  /** 32 random bytes kept in `$BODHI_HOME/<name>`, made on first use; read once per service. */
  private generatedSecret(name: string, what: string, encoding: BufferEncoding): string {
    let value = this.generated.get(name);
    if (value === undefined) {
      value = this.readOrCreateSecretFile(name, what, encoding);
      this.generated.set(name, value);
    }
    return value;
  }

  /**
   * Written whole to a file of its own, then linked into place: the name appears only with
   * its content, so a second process starting at the same moment (which finds the name
   * taken and reads it) or a crash mid-write never leaves an empty secret behind.
   */
  private readOrCreateSecretFile(name: string, what: string, encoding: BufferEncoding): string {
    const file = path.join(this.server.home, name);
    const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    fs.writeFileSync(draft, randomBytes(32).toString(encoding), { flag: 'wx', mode: 0o600 });
    try {
      fs.linkSync(draft, file);
      this.logger.log(`Generated ${what} in ${file}`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      fs.rmSync(draft, { force: true });
    }
    const value = fs.readFileSync(file, 'utf8').trim();
    if (!value) throw new Error(`${file} is empty: remove it to generate ${what} anew`);
    return value;
  }
}
