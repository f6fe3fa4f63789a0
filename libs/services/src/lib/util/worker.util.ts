import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker, WorkerOptions } from 'node:worker_threads';
import type * as TypeScript from 'typescript';

/** True when this library runs from its TypeScript source (the specs, under ts-jest). */
const FROM_SOURCE = import.meta.url.endsWith('.ts');

/**
 * Starts a worker thread on `module`, the compiled `.js` URL of one of this library's
 * modules (`new URL('./x.worker.js', import.meta.url)`). Built, that file exists. Run from
 * TypeScript source it does not, and Node, which loads a worker's module itself (outside
 * ts-jest), cannot run the `.ts` file: this thread strips its types (TypeScript is there
 * wherever the specs run) and the worker gets that JavaScript through a module hook.
 */
export function startWorker(module: URL, options: WorkerOptions = {}): Worker {
  if (!FROM_SOURCE) return new Worker(module, options);
  const source = new URL(module.href.replace(/\.js$/, '.ts'));
  const ts = createRequire(import.meta.url)('typescript') as typeof TypeScript;
  const { outputText } = ts.transpileModule(fs.readFileSync(source, 'utf8'), {
    fileName: fileURLToPath(source),
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  const hooks = new URL('./transpiled-source.hooks.mjs', import.meta.url).href;
  const data = { [source.href]: outputText };
  const register = `import { register } from 'node:module';
    register(${JSON.stringify(hooks)}, { data: ${JSON.stringify(data)} });`;
  return new Worker(source, {
    ...options,
    execArgv: [
      ...(options.execArgv ?? process.execArgv),
      '--import',
      `data:text/javascript,${encodeURIComponent(register)}`,
    ],
  });
}
