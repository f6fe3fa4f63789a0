// A process of its own that starts `count` stacks (a provider and a Bodhi server each, on
// SQLite) at the same moment, logs in once on each, and prints one JSON line: for each stack,
// where its server and its provider listen and where the server sent the login. The
// ports.e2e spec runs several of these side by side, as parallel test processes run stacks.
import { BodhiClient, DEMO_USER, startStack } from '@bodhi/testing';

const count = Number(process.argv[2]);
const settled = await Promise.allSettled(
  Array.from({ length: count }, () => startStack({ backend: 'sqlite' })),
);
const stacks = settled.filter((s) => s.status === 'fulfilled').map((s) => s.value);
try {
  const failedToStart = settled.filter((s) => s.status === 'rejected').map((s) => String(s.reason));
  const logins = await Promise.all(
    stacks.map(async (stack) => {
      const server = stack.servers[0];
      const client = new BodhiClient(server);
      const initiate = await client.post('/bodhi/v1/auth/initiate');
      const sentTo = new URL(String(initiate.body.location)).origin;
      let failure;
      await client.login(DEMO_USER.username, DEMO_USER.password).catch((e) => (failure = e.message));
      const user = await client.user();
      return {
        server: server.url,
        issuer: stack.idp.issuer,
        sentTo,
        failure,
        username: user.body.username,
      };
    }),
  );
  process.stdout.write(`${JSON.stringify({ failedToStart, logins })}\n`);
} finally {
  await Promise.all(stacks.map((stack) => stack.stop()));
}
