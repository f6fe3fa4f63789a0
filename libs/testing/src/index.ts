// The test kit (@bodhi/testing): the recipes specs, the e2e, the benchmark and the scripts
// share. Production code never imports it (lint), and it is no part of any library's dist.
export { BodhiClient, type ApiResponse } from './lib/bodhi-client.js';
export { startAttackerSite, type AttackerSite } from './lib/attacker-site.js';
export {
  cacheCounts,
  openCachedTestStore,
  type CacheCounts,
  type CachedTestStore,
  type CountedRead,
} from './lib/cached-test-store.js';
export {
  bootTogether,
  heldAdvisoryLocks,
  SessionTraffic,
  timed,
  type BootedTogether,
  type LockOwners,
  type TimedOutcome,
  type TrafficOutcome,
} from './lib/cluster.js';
export {
  loginMany,
  serverCacheState,
  sessionListenerPids,
  terminateBackends,
  untilServerCache,
  type ServerCacheState,
} from './lib/cluster-cache.js';
export {
  identityProviderEnv,
  SERVER_DEFAULT_AUTH_RATE_LIMIT,
  serverEnv,
  TEST_AUTH_RATE_LIMIT,
  testSettings,
  UNREACHABLE_PROVIDER,
  type EnvVars,
  type IdentityProviderOptions,
  type OAuthClient,
  type ServerEnvOptions,
} from './lib/env.js';
export {
  BAD_GATEWAY_PAGE,
  HTML_PAGE,
  HttpFaultProxy,
  type ProxyAnswer,
} from './lib/http-fault-proxy.js';
export {
  DEMO_ADMIN,
  DEMO_USER,
  DEV_AUTH_SERVER_SCRIPT,
  IdentityProviderProcess,
  providerStats,
  tokenRequest,
  untilRefreshTokenInactive,
  type TokenResponse,
} from './lib/identity-provider.js';
export {
  editedVariants,
  redosVerdict,
  unlistedPatterns,
  type PatternVerdict,
} from './lib/linear-patterns.js';
export { secretsIn, sessionSecrets, type SessionSecretSources } from './lib/log-secrets.js';
export { ManagedProcess, type ManagedProcessOptions } from './lib/managed-process.js';
export {
  metricValues,
  parseExposition,
  scrapeMetrics,
  type Exposition,
  type MetricSample,
} from './lib/metrics.js';
export {
  PrivatePostgres,
  startStackOnPrivatePostgres,
  type PrivateStack,
} from './lib/private-postgres.js';
export {
  BODHI_SERVER_SCRIPT,
  ServerProcess,
  type ServerProcessOptions,
} from './lib/server-process.js';
export {
  createTestSessionDb,
  openTestStore,
  SESSION_BACKENDS,
  sessionFixture,
  tamperEncrypted,
  TEST_ENCRYPTION_KEY,
  TEST_PG_URL,
  TEST_PGBOUNCER_URL,
  TEST_SECRET,
  testSessionOptions,
  type TestSessionDb,
} from './lib/session-db.js';
export { SqliteLockHolder } from './lib/sqlite-lock.js';
export {
  CLIENT_ID,
  CLIENT_SECRET,
  startStack,
  type ServerLauncher,
  type Stack,
  type StackOptions,
  type StackPooler,
  type StackServer,
} from './lib/stack.js';
export { percentile } from './lib/stats.js';
export { TcpProxy } from './lib/tcp-proxy.js';
export { deferred, tracked, until, untilNextSecond, untilReading } from './lib/wait.js';
export { tempHome, WORKSPACE_ROOT, type TempHome } from './lib/workspace.js';
