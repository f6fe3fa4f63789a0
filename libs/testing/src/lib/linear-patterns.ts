/**
 * ReDoS checks for the patterns a module applies to what clients send (issue #28): each such
 * module exports the list of its patterns (`*_PATTERNS`), and its project's spec asks recheck
 * (a maintained ReDoS checker) for a verdict on each, and checks that the list holds every
 * regular expression the module's source writes. Both libraries are loaded on first use: the
 * kit's other users (the e2e, the bench) never pay for them.
 */
import * as fs from 'node:fs';

/** recheck's verdict on a pattern: `safe` means matching takes time linear in the input (or better). */
export interface PatternVerdict {
  pattern: string;
  status: 'safe' | 'vulnerable' | 'unknown';
  /** e.g. "2nd degree polynomial", when not safe. */
  complexity?: string;
  /** An input that shows it, when vulnerable. */
  attack?: string;
}

/**
 * recheck's verdict on `pattern`, from its pure JavaScript backend (no native binary, no JVM,
 * no network; RECHECK_BACKEND, when set, picks another) with its wall-clock limits off: the
 * analysis is bounded by its step counts alone and its fuzzing is seeded, so the verdict is
 * the same on every machine, however loaded. A check takes up to a few seconds.
 */
export async function redosVerdict(pattern: RegExp): Promise<PatternVerdict> {
  process.env.RECHECK_BACKEND ??= 'pure';
  const { check } = await import('recheck');
  const diagnostics = await check(pattern.source, pattern.flags, {
    timeout: null,
    attackTimeout: null,
    incubationTimeout: null,
  });
  const verdict: PatternVerdict = { pattern: String(pattern), status: diagnostics.status };
  if (diagnostics.status === 'vulnerable') {
    verdict.complexity = diagnostics.complexity.summary;
    verdict.attack = diagnostics.attack.pattern;
  } else if (diagnostics.status === 'unknown') {
    verdict.complexity = diagnostics.error.kind;
  }
  return verdict;
}

/**
 * What of the regular expressions written in the source `file` is missing from `listed`:
 * each literal (as `String(regexp)` spells it) not in the list, and one entry per
 * `RegExp(…)` construction, which no list can be compared with (write it as a literal).
 * Empty when the module's list is complete.
 */
export async function unlistedPatterns(file: string, listed: readonly RegExp[]): Promise<string[]> {
  const { default: ts } = await import('typescript');
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const have = new Set(listed.map(String));
  const missing: string[] = [];
  const visit = (node: import('typescript').Node): void => {
    if (ts.isRegularExpressionLiteral(node)) {
      const text = node.text;
      const slash = text.lastIndexOf('/');
      const spelled = String(new RegExp(text.slice(1, slash), text.slice(slash + 1)));
      if (!have.has(spelled)) missing.push(spelled);
    } else if (
      (ts.isNewExpression(node) || ts.isCallExpression(node)) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'RegExp'
    ) {
      missing.push(`a RegExp constructed at ${file}:${positionOf(source, node)}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return missing;
}

function positionOf(source: import('typescript').SourceFile, node: import('typescript').Node) {
  const { line, character } = source.getLineAndCharacterOfPosition(node.getStart(source));
  return `${line + 1}:${character + 1}`;
}

/** A seeded generator (mulberry32) of numbers in [0, 1): the same sequence on every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` texts made from `templates` (one to three, joined by nothing, a space, a quote or a
 * slash) with up to four random edits each (a piece of `alphabet` inserted or written over a
 * character, or a character deleted): matches and near misses of a pattern, for comparing a
 * scan that replaced a regular expression with the expression itself. Seeded: the same texts
 * on every run.
 */
export function editedVariants(
  seed: number,
  templates: readonly string[],
  alphabet: readonly string[],
  n: number,
): string[] {
  const next = seeded(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)];
  return Array.from({ length: n }, () => {
    const parts = Array.from({ length: 1 + Math.floor(next() * 3) }, () => pick(templates));
    let text = parts.join(pick(['', ' ', '"', '/']));
    for (let edits = Math.floor(next() * 5); edits > 0; edits--) {
      const at = Math.floor(next() * (text.length + 1));
      const kind = next();
      const rest = kind < 0.4 ? text.slice(at) : text.slice(at + 1);
      text = text.slice(0, at) + (kind < 0.4 || kind >= 0.7 ? pick(alphabet) : '') + rest;
    }
    return text;
  });
}
