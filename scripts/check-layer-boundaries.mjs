// Proves the layer order is enforced by lint: for every pair of libraries, an import from a
// lower layer into a higher one must be a lint error, and the reverse must lint clean. Also
// proves no library's production code may import a test kit, while its specs may.
// Uses one in-process ESLint so the 30 probes cost one start-up, and writes no files.
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

const TEST_KITS = ['@bodhi/services/testing', '@bodhi/dev-auth-server/testing'];
let kitPassed = 0;
let kitFailed = 0;
for (const lib of layers) {
  for (const kit of TEST_KITS) {
    for (const file of ['test-kit-probe.ts', 'test-kit-probe.spec.ts']) {
      const [result] = await eslint.lintText(`import '${kit}';\n`, {
        filePath: `${root}/libs/${lib}/src/lib/${file}`,
      });
      const rejected = result.messages.some((m) => m.ruleId === 'no-restricted-imports');
      const mustReject = !file.endsWith('.spec.ts');
      if (rejected === mustReject) {
        kitPassed++;
      } else {
        kitFailed++;
        console.error(
          `FAIL: ${lib}/${file} importing ${kit} ${mustReject ? 'is production code but lint accepts it' : 'is a spec but lint rejects it'}`,
        );
      }
    }
  }
}
console.log(`test kits kept out of production code: ${kitPassed} passed, ${kitFailed} failed`);
process.exitCode = failed === 0 && kitFailed === 0 ? 0 : 1;
