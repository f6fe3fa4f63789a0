import 'reflect-metadata';
import { startBodhiServer } from '@bodhi/server-app';
import { redactSecrets } from '@bodhi/services';

/**
 * Boots the Bodhi server from the environment (BODHI_*). A configuration or database
 * problem ends the process with one line naming it and a non-zero exit code.
 */
async function main(): Promise<void> {
  const server = await startBodhiServer();
  console.log(`Bodhi server listening on ${server.url} (open ${server.url}/ui/login)`);
}

main().catch((e: unknown) => {
  console.error(`Bodhi server failed to start: ${redactSecrets(e instanceof Error ? e.message : String(e))}`);
  process.exit(1);
});
