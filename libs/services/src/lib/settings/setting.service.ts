import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureDirectory } from '../util/fs.util.js';
import { BODHI_SETTINGS } from './setting.tokens.js';
import type { BodhiSettings } from './setting.schema.js';
import {
  BODHI_AUTH_CLIENT_ID,
  BODHI_AUTH_CLIENT_SECRET,
  BODHI_AUTH_URL,
  DeploymentMode,
  EnvType,
  LogLevel,
  PublicScheme,
  SESSION_SECRET_FILE,
} from './setting.constants.js';
import { InvalidSettingsError } from './setting.schema.js';

/** The identity provider the server logs users in with. */
export interface AuthSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
}

/**
 * Read access to the validated settings. Construction creates BODHI_HOME, so the
 * default SQLite file and the generated cookie secret always have a place to live.
 */
@Injectable()
export class SettingService {
  private readonly logger = new Logger(SettingService.name);
  private cachedSecret?: string;

  constructor(@Inject(BODHI_SETTINGS) private readonly settings: BodhiSettings) {
    ensureDirectory(settings.home);
  }

  bodhiHome(): string {
    return this.settings.home;
  }

  host(): string {
    return this.settings.host;
  }

  port(): number {
    return this.settings.port;
  }

  scheme(): PublicScheme {
    return this.settings.scheme;
  }

  envType(): EnvType {
    return this.settings.envType;
  }

  isDevelopment(): boolean {
    return this.settings.envType === 'development';
  }

  logLevel(): LogLevel {
    return this.settings.logLevel;
  }

  /**
   * Origin browsers use to reach the server (`BODHI_PUBLIC_*`, defaulting to the bind
   * address). `port` overrides the configured port: a server bound to port 0 knows its
   * real port only after listening.
   */
  publicUrl(port = this.settings.publicPort): string {
    const { publicScheme, publicHost } = this.settings;
    const defaultPort = publicScheme === 'https' ? 443 : 80;
    return `${publicScheme}://${publicHost}${port === defaultPort ? '' : `:${port}`}`;
  }

  /** Identity-provider settings; a missing one stops boot naming the variable. */
  authSettings(): AuthSettings {
    const { issuer, clientId, clientSecret } = this.settings.auth;
    const missing = [
      [BODHI_AUTH_URL, issuer],
      [BODHI_AUTH_CLIENT_ID, clientId],
      [BODHI_AUTH_CLIENT_SECRET, clientSecret],
    ]
      .filter(([, value]) => !value)
      .map(([name]) => `${name} is required (the identity provider to log users in with)`);
    if (missing.length > 0) throw new InvalidSettingsError(missing);
    return {
      issuer: issuer as string,
      clientId: clientId as string,
      clientSecret: clientSecret as string,
    };
  }

  /** `BODHI_SESSION_DB_URL`, or the SQLite file `$BODHI_HOME/session.sqlite`. */
  sessionDbUrl(): string {
    return this.settings.sessionDbUrl;
  }

  deploymentMode(): DeploymentMode {
    return this.settings.deployment;
  }

  publicScheme(): PublicScheme {
    return this.settings.publicScheme;
  }

  sessionTtlSeconds(): number {
    return this.settings.sessionTtlSeconds;
  }

  sessionPruneIntervalSeconds(): number {
    return this.settings.sessionPruneIntervalSeconds;
  }

  sessionTouchAfterSeconds(): number {
    return this.settings.sessionTouchAfterSeconds;
  }

  sessionTable(): string {
    return this.settings.sessionTable;
  }

  sessionSchema(): string | undefined {
    return this.settings.sessionSchema;
  }

  /** Base64 encryption keys of session data (first encrypts); empty when not configured. */
  sessionEncryptionKeys(): string[] {
    return this.settings.sessionEncryptionKeys;
  }

  sessionMaxBytes(): number {
    return this.settings.sessionMaxBytes;
  }

  /**
   * The cookie-signing secret. A standalone install without `BODHI_SESSION_SECRET` gets a
   * random one kept in `$BODHI_HOME/session_secret` (mode 600), so logins survive restarts.
   * Cluster mode never gets here without a configured secret (the schema requires it).
   */
  sessionSecret(): string {
    if (this.settings.sessionSecret) return this.settings.sessionSecret;
    this.cachedSecret ??= this.readOrCreateSecretFile();
    return this.cachedSecret;
  }

  private readOrCreateSecretFile(): string {
    const file = path.join(this.settings.home, SESSION_SECRET_FILE);
    try {
      // 'wx' fails if another process created it first; then we read theirs.
      fs.writeFileSync(file, randomBytes(32).toString('hex'), { flag: 'wx', mode: 0o600 });
      this.logger.log(`Generated a cookie-signing secret in ${file}`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    return fs.readFileSync(file, 'utf8').trim();
  }
}
