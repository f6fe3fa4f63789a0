import { COMMANDS, parseCliArgs, USAGE } from './cli-args.js';

const usageError = (message: string) => ({ kind: 'usage-error', message, showUsage: true });

describe('bodhi-sessions arguments', () => {
  it('reads a command, its argument and the options', () => {
    expect(parseCliArgs(['clear-user', 'alice', '--url', 'sqlite:/tmp/x.db', '--json'])).toEqual({
      kind: 'run',
      command: 'clear-user',
      userId: 'alice',
      options: { url: 'sqlite:/tmp/x.db', yes: false, json: true, verbose: false },
    });
    expect(
      parseCliArgs([
        '--table=t1',
        'count',
        '--schema',
        's1',
        '--user',
        'bob',
        '--verbose',
        '--url=postgres://u:p@h/db',
      ]),
    ).toEqual({
      kind: 'run',
      command: 'count',
      userId: undefined,
      options: {
        url: 'postgres://u:p@h/db',
        table: 't1',
        schema: 's1',
        user: 'bob',
        yes: false,
        json: false,
        verbose: true,
      },
    });
    expect(parseCliArgs(['clear-all', '--yes'])).toMatchObject({
      kind: 'run',
      command: 'clear-all',
      options: { yes: true },
    });
  });

  it.each(COMMANDS.filter((c) => c !== 'clear-user' && c !== 'clear-all'))(
    '%s takes no argument',
    (command) => {
      const needed = command === 'list' ? ['--user', 'alice'] : [];
      expect(parseCliArgs([command, ...needed])).toMatchObject({ kind: 'run', command });
      expect(parseCliArgs([command, ...needed, 'extra'])).toEqual(
        usageError(`unexpected argument "extra" for ${command}`),
      );
    },
  );

  it('reads ids, the former name of keys, as keys with a deprecation notice', () => {
    expect(parseCliArgs(['ids', '--user', 'alice'])).toEqual({
      kind: 'run',
      command: 'keys',
      userId: undefined,
      options: { user: 'alice', yes: false, json: false, verbose: false },
      deprecation: '"ids" is deprecated; use "keys"',
    });
    expect(parseCliArgs(['keys'])).not.toHaveProperty('deprecation');
    expect(parseCliArgs(['ids', 'extra'])).toEqual(
      usageError('unexpected argument "extra" for ids'),
    );
  });

  it('asks for help with --help or -h, anywhere', () => {
    expect(parseCliArgs(['--help'])).toEqual({ kind: 'help' });
    expect(parseCliArgs(['-h'])).toEqual({ kind: 'help' });
    expect(parseCliArgs(['count', '--json', '-h'])).toEqual({ kind: 'help' });
  });

  it.each([
    [[], 'no command given'],
    [['frob'], 'unknown command "frob"'],
    [['count', '--bogus'], 'unknown option --bogus'],
    [['count', '-x'], 'unknown option -x'],
    [['count', '--user'], 'option --user needs a value'],
    [['count', '--user', '--json'], 'option --user needs a value'],
    [['count', '--json=yes'], 'option --json takes no value'],
    [['count', '--url='], 'option --url needs a non-empty value'],
    [['clear-user'], 'clear-user needs <userId>'],
    [['clear-user', ' '], 'clear-user needs a non-empty <userId>'],
    [['clear-user', 'a', 'b'], 'unexpected argument "b" for clear-user'],
    [['dump', '--user', 'a'], 'option --user does not apply to dump'],
    [['list'], 'list needs --user <id>'],
    [['list', '--json'], 'list needs --user <id>'],
    [['list', '--user', ' '], 'option --user needs a non-empty value'],
    [['prune', '--yes'], 'option --yes does not apply to prune'],
  ])('%j is bad usage: %s', (argv, message) => {
    expect(parseCliArgs(argv)).toEqual(usageError(message));
  });

  it('refuses clear-all without --yes, without the usage text', () => {
    expect(parseCliArgs(['clear-all', '--json'])).toEqual({
      kind: 'usage-error',
      message: expect.stringContaining('add --yes'),
      showUsage: false,
    });
  });

  it('documents every command and option', () => {
    for (const command of COMMANDS) expect(USAGE).toContain(`  ${command} `);
    for (const option of ['url', 'table', 'schema', 'user', 'yes', 'json', 'verbose', 'help']) {
      expect(USAGE).toContain(`--${option}`);
    }
  });
});
