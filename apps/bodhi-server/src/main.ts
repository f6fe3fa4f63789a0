import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { announceListening, bootLogger, startBodhiServer } from '@bodhi/server-app';

/**
 * Boots the Bodhi server from the environment (BODHI_*). A configuration or database
 * problem ends the process with one line naming it and a non-zero exit code. Every line goes
 * through the server's logger, so with BODHI_LOG_FORMAT=json every line it prints is JSON.
 */
async function main(): Promise<void> {
  const server = await startBodhiServer();
  new Logger('BodhiServer').log(
    `Bodhi server listening on ${server.url} (open ${server.url}/ui/login)`,
  );
  announceListening(server);
}

main().catch((e: unknown) => {
  // No Nest logger to say it (the failed boot's buffered logs are dropped): a logger of the
  // same settings, redaction included.
  bootLogger(process.env).fatal(
    `Bodhi server failed to start: ${e instanceof Error ? e.message : String(e)}`,
  );
  process.exit(1);
});
