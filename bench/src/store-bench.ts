import type { SessionDbKind } from '@bodhi/services';
import { percentile } from '@bodhi/testing';
import type { SessionData } from 'express-session';
import { type BenchConfig, STORE_OPS, type StoreOp } from './config.js';
import { CONTENDERS, Contender, ContenderRole, openWorkspace } from './contenders.js';
import { loggedInSession, refreshedSession, sessionBytes, sessionIds } from './fixtures.js';
import { gc, progress, runOps, spread, Spread } from './util.js';

export { STORE_OPS, type StoreOp } from './config.js';

export interface StoreMeasurement {
  contender: string;
  op: StoreOp;
  concurrency: number;
  opsPerSec: Spread;
  /** Median over repetitions of each repetition's latency percentile. */
  p50Ms: number;
  p99Ms: number;
}

export interface StoreBackendResult {
  backend: SessionDbKind;
  opsPerRep: number;
  warmupOps: number;
  reps: number;
  sessionBytes: number;
  contenders: { key: string; name: string; role: ContenderRole; notes: string }[];
  measurements: StoreMeasurement[];
}

type Cb<T> = (err?: unknown, value?: T) => void;
const call = <T = unknown>(f: (cb: Cb<T>) => void) =>
  new Promise<T>((resolve, reject) => f((err, value) => (err ? reject(err) : resolve(value as T))));

interface RepResult {
  opsPerSec: number;
  p50: number;
  p99: number;
}

/** One contender's sessions for one repetition, and what its answers were. */
interface Round {
  contender: Contender;
  ids: string[];
  missing: string[];
  created: SessionData[];
  updated: SessionData[];
  touched: SessionData[];
  hits: number;
  found: number;
}

async function prepare(contender: Contender, n: number): Promise<Round> {
  await contender.reset();
  const ids = sessionIds(n);
  const created = ids.map(() => loggedInSession());
  const updated = created.map(refreshedSession);
  return {
    contender,
    ids,
    missing: sessionIds(n),
    created,
    updated,
    touched: updated.map(refreshedSession),
    hits: 0,
    found: 0,
  };
}

/** Runs op `op` over the round's `n` sessions with at most `concurrency` in flight. */
async function runPhase(round: Round, op: StoreOp, n: number, concurrency: number) {
  const { store } = round.contender;
  const { ids, missing, created, updated, touched } = round;
  const phases: Record<StoreOp, (i: number) => Promise<unknown>> = {
    'set (new)': (i) => call((cb) => store.set(ids[i], created[i], cb)),
    'set (update)': (i) => call((cb) => store.set(ids[i], updated[i], cb)),
    'get (hit)': async (i) => {
      const s = await call<SessionData | null | undefined>((cb) => store.get(ids[i], cb));
      if (s?.access_token === updated[i].access_token) round.hits++;
    },
    'get (miss)': async (i) => {
      if (await call<SessionData | null | undefined>((cb) => store.get(missing[i], cb)))
        round.found++;
    },
    touch: (i) => call((cb) => store.touch(ids[i], touched[i], cb)),
    destroy: (i) => call((cb) => store.destroy(ids[i], cb)),
  };
  gc();
  const { ms, latencies } = await runOps(n, concurrency, phases[op]);
  return {
    opsPerSec: (n / ms) * 1000,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

/** A contender that loses or invents sessions fails the run rather than posting a number. */
async function verify(round: Round, n: number): Promise<void> {
  const { store, name } = round.contender;
  const left = await call<SessionData | null | undefined>((cb) => store.get(round.ids[0], cb));
  if (round.hits !== n || round.found !== 0 || left) {
    throw new Error(
      `${name}: wrong answers (get hit ${round.hits}/${n} current, get miss found ${round.found}, ` +
        `destroyed session ${left ? 'still readable' : 'gone'})`,
    );
  }
}

/**
 * One repetition for every contender, phase by phase: each contender gets a fresh table and
 * its own sessions, then set (new) runs on every contender, then set (update) on every
 * contender, and so on (set new → set update → get hit → get miss → touch → destroy). The
 * contenders of one op are timed seconds apart, so drift on a shared machine hits them alike;
 * the order rotates with each repetition.
 */
async function repetition(
  contenders: Contender[],
  n: number,
  concurrency: number,
  rep: number,
): Promise<Map<string, Record<StoreOp, RepResult>>> {
  const order = contenders.map((_, i) => contenders[(i + rep) % contenders.length]);
  const rounds: Round[] = [];
  for (const c of order) rounds.push(await prepare(c, n));
  const out = new Map<string, Record<StoreOp, RepResult>>(
    order.map((c) => [c.key, {} as Record<StoreOp, RepResult>]),
  );
  for (const op of STORE_OPS) {
    for (const round of rounds) {
      const result = await runPhase(round, op, n, concurrency);
      const record = out.get(round.contender.key);
      if (record) record[op] = result;
    }
  }
  for (const round of rounds) await verify(round, n);
  return out;
}

export async function runStoreBench(
  kind: SessionDbKind,
  config: BenchConfig,
): Promise<StoreBackendResult> {
  const n = config.store.ops[kind];
  const { reps, warmupOps } = config.store;
  const ws = await openWorkspace(kind, config.pgUrl);
  const contenders: Contender[] = [];
  const samples = new Map<string, RepResult[]>();
  const keyOf = (c: string, op: StoreOp, conc: number) => `${c}\u0000${op}\u0000${conc}`;
  try {
    for (const factory of CONTENDERS[kind]) contenders.push(await factory(ws));
    for (const concurrency of config.store.concurrency) {
      progress(`store/${kind} c=${concurrency}: warm-up, ${warmupOps} ops per op (excluded)`);
      await repetition(contenders, warmupOps, concurrency, 0);
      for (let rep = 0; rep < reps; rep++) {
        const t0 = performance.now();
        const results = await repetition(contenders, n, concurrency, rep);
        for (const [key, result] of results) {
          for (const op of STORE_OPS) {
            const k = keyOf(key, op, concurrency);
            samples.set(k, [...(samples.get(k) ?? []), result[op]]);
          }
        }
        const brief = contenders
          .map((c) => {
            const r = results.get(c.key);
            return `${c.key} set ${Math.round(r?.['set (new)'].opsPerSec ?? 0)}/s get ${Math.round(r?.['get (hit)'].opsPerSec ?? 0)}/s`;
          })
          .join('; ');
        progress(
          `store/${kind} c=${concurrency} rep ${rep + 1}/${reps} (${((performance.now() - t0) / 1000).toFixed(1)} s): ${brief}`,
        );
      }
    }
  } finally {
    for (const c of contenders) await c.close().catch(() => undefined);
    await ws.close();
  }
  const measurements: StoreMeasurement[] = [];
  for (const concurrency of config.store.concurrency) {
    for (const c of contenders) {
      for (const op of STORE_OPS) {
        const runs = samples.get(keyOf(c.key, op, concurrency)) ?? [];
        measurements.push({
          contender: c.key,
          op,
          concurrency,
          opsPerSec: spread(runs.map((r) => r.opsPerSec)),
          p50Ms: spread(runs.map((r) => r.p50)).median,
          p99Ms: spread(runs.map((r) => r.p99)).median,
        });
      }
    }
  }
  return {
    backend: kind,
    opsPerRep: n,
    warmupOps,
    reps,
    sessionBytes: sessionBytes(loggedInSession()),
    contenders: contenders.map(({ key, name, role, notes }) => ({ key, name, role, notes })),
    measurements,
  };
}
