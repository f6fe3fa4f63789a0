// Proves the layer order is enforced by lint: for every pair of libraries, an import from a
// lower layer into a higher one must be a lint error, and the reverse must lint clean. Also
// proves no library's or app's production code may import a test kit, while its specs may.
// Uses one in-process ESLint so the probes cost one start-up, and writes no files.
import { createProjectGraphAsync } from '@nx/devkit';
import { ESLint } from 'eslint';
import { LAYERS as layers } from '../layers.mjs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);
// The Nx rule reads the cached project graph and silently skips itself without one (as on
// a fresh clone), so build the graph first.
await createProjectGraphAsync({ exitOnError: true });
const eslint = new ESLint({ cwd: root });

let passed = 0;
let failed = 0;
for (const [i, from] of layers.entries()) {
  for (const [j, to] of layers.entries()) {
    if (i === j) continue;
    const [result] = await eslint.lintText(`import '@bodhi/${to}';\n`, {
      filePath: `${root}/libs/${from}/src/lib/layer-probe.ts`,
    });
    const rejected = result.messages.some((m) => m.ruleId === '@nx/enforce-module-boundaries');
    const mustReject = j > i;
    if (rejected === mustReject) {
      passed++;
    } else {
      failed++;
      console.error(
        `FAIL: ${from} -> ${to} ${mustReject ? 'is a higher layer but lint accepts it' : 'is allowed but lint rejects it'}`,
      );
    }
  }
}
console.log(`layer boundaries: ${passed} passed, ${failed} failed`);

// The shared kit, the services' testing entry (store internals for the kit, specs and the
// benchmark) and the identity provider's own kits (in-process provider and login form; its
// settings), with the rules that must each reject an import of it from production code (and
// none of which may reject one from a spec): the shared kit is kept out by its tag
// (type:testing, taken in only for specs) and by name, the others by name only (the
// boundary rule lets them through: they belong to a project production code may import).
const TEST_KITS = {
  '@bodhi/testing': ['no-restricted-imports', '@nx/enforce-module-boundaries'],
  '@bodhi/services/testing': ['no-restricted-imports'],
  '@bodhi/dev-auth-server/testing': ['no-restricted-imports'],
  '@bodhi/dev-auth-server/testing/config': ['no-restricted-imports'],
};
// Where production code lives: every library, and the apps that ship (the e2e app is test code
// throughout; the provider's own kits live in its src/testing, which is not probed).
const PRODUCTION_DIRS = [
  ...layers.map((lib) => `libs/${lib}/src/lib`),
  'apps/bodhi-server/src',
  'apps/dev-auth-server/src',
];
let kitPassed = 0;
let kitFailed = 0;
for (const dir of PRODUCTION_DIRS) {
  for (const [kit, rules] of Object.entries(TEST_KITS)) {
    for (const file of ['test-kit-probe.ts', 'test-kit-probe.spec.ts']) {
      const [result] = await eslint.lintText(`import '${kit}';\n`, {
        filePath: `${root}/${dir}/${file}`,
      });
      const rejectedBy = rules.filter((rule) => result.messages.some((m) => m.ruleId === rule));
      const mustReject = !file.endsWith('.spec.ts');
      if (rejectedBy.length === (mustReject ? rules.length : 0)) {
        kitPassed++;
      } else {
        kitFailed++;
        console.error(
          `FAIL: ${dir}/${file} importing ${kit} (${mustReject ? 'production code' : 'a spec'}) ` +
            `is rejected by [${rejectedBy.join(', ')}], expected [${mustReject ? rules.join(', ') : ''}]`,
        );
      }
    }
  }
}
console.log(`test kits kept out of production code: ${kitPassed} passed, ${kitFailed} failed`);
process.exitCode = failed === 0 && kitFailed === 0 ? 0 : 1;
