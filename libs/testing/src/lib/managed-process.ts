import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { until } from './wait.js';
import { WORKSPACE_ROOT } from './workspace.js';

export interface ManagedProcessOptions {
  /** Also copy its output to this process's stdout/stderr (npm start shows the logs). */
  echo?: boolean;
}

/**
 * A built app run as a real child process by tests, the benchmark and the scripts, its
 * output kept for failure messages. `script` is relative to the workspace root, which is
 * also its working directory; `env` is laid over this process's environment (an undefined
 * value unsets the variable).
 */
export class ManagedProcess {
  private child?: ChildProcess;
  private exit?: Promise<number | null>;
  private log: string[] = [];
  exited = false;

  constructor(
    readonly name: string,
    private readonly script: string,
    readonly env: Record<string, string | undefined>,
    private readonly options: ManagedProcessOptions = {},
  ) {}

  /** Starts (or, after it stopped, restarts) the process. */
  start(): void {
    this.exited = false;
    const child = spawn(process.execPath, [path.resolve(WORKSPACE_ROOT, this.script)], {
      cwd: WORKSPACE_ROOT,
      env: this.childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (to: NodeJS.WriteStream) => (d: Buffer) => {
      this.log.push(d.toString());
      if (this.options.echo) to.write(d);
    };
    child.stdout?.on('data', keep(process.stdout));
    child.stderr?.on('data', keep(process.stderr));
    this.exit = new Promise((resolve) =>
      child.on('exit', (code) => {
        this.exited = true;
        resolve(code);
      }),
    );
    this.child = child;
  }

  /** The environment the process runs with: `env` over this process's. */
  protected childEnv(): Record<string, string | undefined> {
    return { ...process.env, ...this.env };
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The process's stdout and stderr so far (the last `maxChars` of it). */
  output(maxChars = 4000): string {
    const all = this.log.join('');
    return Number.isFinite(maxChars) ? all.slice(-maxChars) : all;
  }

  /** How many characters of output it has written so far: a mark for `waitForOutput`. */
  get outputLength(): number {
    return this.log.reduce((n, chunk) => n + chunk.length, 0);
  }

  /**
   * Resolves with the first match of `pattern` in its output from character `from` on: the
   * signal a test waits on when the process logs the event (a statement waiting for a lock).
   * Fails with the output when the process exits first, or after `timeoutMs` (a hang guard).
   */
  async waitForOutput(
    pattern: RegExp,
    { from = 0, timeoutMs = 10_000 }: { from?: number; timeoutMs?: number } = {},
  ): Promise<string> {
    const find = () => pattern.exec(this.output(Infinity).slice(from));
    await until(() => find() !== null || this.exited, timeoutMs).catch(() => {
      throw new Error(
        `${this.name} did not print ${pattern} within ${timeoutMs} ms:\n${this.output()}`,
      );
    });
    const match = find();
    if (!match)
      throw new Error(`${this.name} exited before printing ${pattern}:\n${this.output()}`);
    return match[0];
  }

  /** Resolves with the exit code (null after a signal) once the started process ends. */
  waitForExit(): Promise<number | null> {
    if (!this.exit) throw new Error(`${this.name} was never started`);
    return this.exit;
  }

  /** Polls `url` until it answers 2xx; fails with the process output when it never does. */
  async waitFor(url: string, timeoutMs = 30_000): Promise<void> {
    // Stop polling once it answers, or once it has exited (then it never will).
    const answered = () =>
      fetch(url).then(
        (res) => res.ok,
        () => false,
      ); // not listening yet
    await until(async () => this.exited || (await answered()), timeoutMs).catch(() => {
      throw new Error(
        `${this.name} did not answer at ${url} within ${timeoutMs} ms:\n${this.output()}`,
      );
    });
    if (this.exited) throw new Error(`${this.name} exited early:\n${this.output()}`);
  }

  /** Stops the process (SIGTERM: a clean shutdown; SIGKILL: a crash) and waits for it. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || this.exited) return;
    const exited = this.waitForExit();
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
