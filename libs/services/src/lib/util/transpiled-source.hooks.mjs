// Node module hooks serving TypeScript modules as JavaScript transpiled beforehand: how a
// worker thread started from this library's source runs its module (see worker.util.ts).
// `initialize` receives the JavaScript by file URL; every other module loads as usual.

/** @type {Record<string, string>} */
let transpiled = {};

export function initialize(data) {
  transpiled = data;
}

export async function load(url, context, nextLoad) {
  const source = transpiled[url];
  if (source === undefined) return nextLoad(url, context);
  return { format: 'module', source, shortCircuit: true };
}
