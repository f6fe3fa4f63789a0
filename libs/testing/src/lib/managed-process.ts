import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { until } from './wait.js';
import { WORKSPACE_ROOT } from './workspace.js';

export interface ManagedProcessOptions {
  /** Also copy its output to this process's stdout/stderr (npm start shows the logs). */
  echo?: boolean;
}

/** A message a child sends over its IPC channel, told apart by its `type`. */
export interface TypedMessage {
  type: string;
}

/**
 * A built app run as a real child process by tests, the benchmark and the scripts, its
 * output kept for failure messages. `script` is relative to the workspace root, which is
 * also its working directory; `env` is laid over this process's environment (an undefined
 * value unsets the variable). It runs with an IPC channel, over which a server says where it
 * listens once it does (`waitForMessage`): no port is chosen for it.
 */
export class ManagedProcess {
  private child?: ChildProcess;
  private exit?: Promise<number | null>;
  private log: string[] = [];
  /** The messages of the current run (cleared by each start). */
  private messages: TypedMessage[] = [];
  exited = false;
  /** Stopped by `pause()` (SIGSTOP) and not yet resumed. */
  paused = false;

  constructor(
    readonly name: string,
    private readonly script: string,
    readonly env: Record<string, string | undefined>,
    private readonly options: ManagedProcessOptions = {},
  ) {}

  /** Starts (or, after it stopped, restarts) the process. */
  start(): void {
    this.exited = false;
    this.paused = false;
    this.messages = [];
    const child = spawn(process.execPath, [path.resolve(WORKSPACE_ROOT, this.script)], {
      cwd: WORKSPACE_ROOT,
      env: this.childEnv(),
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child.on('message', (message: unknown) => {
      if (typeof (message as TypedMessage | null)?.type === 'string')
        this.messages.push(message as TypedMessage);
    });
    // The channel must not keep this process alive (npm start, a bench) once all else is done.
    child.channel?.unref();
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

  /**
   * Resolves with the first message of `type` the current run has sent (a server's
   * "listening" with its address). Fails with the output when the process exits first, or
   * after `timeoutMs`: a hang guard, generous because dozens of servers booting at once on
   * two busy cores (the ports e2e) take tens of seconds, which is slow, not hung.
   */
  async waitForMessage<M extends TypedMessage>(type: M['type'], timeoutMs = 120_000): Promise<M> {
    const find = () => this.messages.find((m) => m.type === type) as M | undefined;
    await until(() => find() !== undefined || this.exited, timeoutMs).catch(() => {
      throw new Error(`${this.name} sent no '${type}' within ${timeoutMs} ms:\n${this.output()}`);
    });
    const message = find();
    if (!message) throw new Error(`${this.name} exited before '${type}':\n${this.output()}`);
    return message;
  }

  private signal(signal: NodeJS.Signals): void {
    if (!this.child || this.exited) throw new Error(`${this.name} is not running`);
    this.child.kill(signal);
  }

  /** Resolves with the exit code (null after a signal) once the started process ends. */
  waitForExit(): Promise<number | null> {
    if (!this.exit) throw new Error(`${this.name} was never started`);
    return this.exit;
  }

  /**
   * Freezes the process (SIGSTOP), as a host that stalls does: it answers nothing, while the
   * kernel still accepts connections to its ports and queues what they send. `resume()`
   * (SIGCONT) lets it go on from where it was.
   */
  pause(): void {
    this.signal('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    this.signal('SIGCONT');
    this.paused = false;
  }

  /** Stops the process (SIGTERM: a clean shutdown; SIGKILL: a crash) and waits for it. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || this.exited) return;
    // A frozen process would hold a SIGTERM until it is let go.
    if (this.paused) this.resume();
    const exited = this.waitForExit();
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
