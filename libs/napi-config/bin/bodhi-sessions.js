#!/usr/bin/env node
// bodhi-sessions: the session store's admin command line (`bodhi-sessions --help`).
// It runs the built library: npx nx run napi-config:build
let cli;
try {
  cli = await import('../dist/cli/bodhi-sessions.js');
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
  process.stderr.write(
    `bodhi-sessions: ${e.message.split('\n')[0]}; is the library built? ` +
      'Run "npx nx run napi-config:build".\n',
  );
  process.exit(1);
}

process.exitCode = await cli.runBodhiSessions(process.argv.slice(2), {
  env: process.env,
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
});
