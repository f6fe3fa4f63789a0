import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { WORKSPACE_ROOT } from './workspace.js';

/**
 * The holder's program: opens the file, takes the write lock, says "locked", and commits
 * when a line arrives on stdin. If the test process goes away (stdin ends), the lock goes
 * with it (exit rolls back).
 */
const HOLDER_SCRIPT = `
const Database = require('better-sqlite3');
const db = new Database(process.argv[1], { fileMustExist: true });
db.exec('BEGIN IMMEDIATE');
process.stdout.write('locked\\n');
process.stdin.once('data', () => { db.exec('COMMIT'); db.close(); process.exit(0); });
process.stdin.once('end', () => process.exit(1));
`;

/**
 * Another process holding a SQLite file's write lock, as a backup, the admin CLI or a second
 * server would: a node child on better-sqlite3 that runs `BEGIN IMMEDIATE` and keeps the lock
 * until `release()`. Reads of the file go on meanwhile (WAL); every write waits for it.
 */
export class SqliteLockHolder {
  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<unknown>,
    private readonly output: () => string,
  ) {}

  /** Resolves once the child holds the lock (it printed "locked"). */
  static async hold(file: string): Promise<SqliteLockHolder> {
    const child = spawn(process.execPath, ['-e', HOLDER_SCRIPT, file], {
      cwd: WORKSPACE_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    const exited = once(child, 'exit');
    const locked = new Promise<void>((resolve, reject) => {
      const read = (d: Buffer) => {
        out += d.toString();
        if (out.includes('locked\n')) resolve();
      };
      child.stdout.on('data', read);
      child.stderr.on('data', read);
      exited.then(() => reject(new Error(`the SQLite lock holder exited:\n${out}`)), reject);
    });
    await locked;
    return new SqliteLockHolder(child, exited, () => out);
  }

  /** Commits the holder's (empty) transaction and waits for it to exit. */
  async release(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.stdin?.write('commit\n');
    const [code] = (await this.exited) as [number | null];
    if (code !== 0) throw new Error(`the SQLite lock holder failed (${code}):\n${this.output()}`);
  }
}
