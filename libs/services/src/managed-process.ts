import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';

/**
 * A built app run as a real child process by tests and the benchmark, its output kept for
 * failure messages. `script` is resolved against `cwd`.
 */
export class ManagedProcess {
  private child?: ChildProcess;
  private log: string[] = [];
  exited = false;

  constructor(
    readonly name: string,
    private readonly script: string,
    readonly env: NodeJS.ProcessEnv,
    private readonly cwd = process.cwd(),
  ) {}

  /** Starts (or, after it stopped, restarts) the process. */
  start(): void {
    this.exited = false;
    const child = spawn(process.execPath, [path.resolve(this.cwd, this.script)], {
      cwd: this.cwd,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => this.log.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => this.log.push(d.toString()));
    child.on('exit', () => (this.exited = true));
    this.child = child;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The process's stdout and stderr so far (the last `maxChars` of it). */
  output(maxChars = 4000): string {
    const all = this.log.join('');
    return Number.isFinite(maxChars) ? all.slice(-maxChars) : all;
  }

  /** Polls `url` until it answers 2xx; fails with the process output when it never does. */
  async waitFor(url: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`${this.name} exited early:\n${this.output()}`);
      try {
        if ((await fetch(url)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(
      `${this.name} did not answer at ${url} within ${timeoutMs} ms:\n${this.output()}`,
    );
  }

  /** Stops the process (SIGTERM: a clean shutdown; SIGKILL: a crash) and waits for it. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || this.exited) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
