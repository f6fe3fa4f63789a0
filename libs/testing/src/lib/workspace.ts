import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository root, where the built apps are: this file is libs/testing/src/lib/ when
 * tests run from source and libs/testing/dist/lib/ when scripts load the build, four levels
 * down either way.
 */
export const WORKSPACE_ROOT = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../..',
);

export interface TempHome {
  /** A new empty directory under the OS temp dir. */
  dir: string;
  /** Deletes it with everything in it. */
  remove(): void;
}

/**
 * A private BODHI_HOME (or any scratch directory): tests write only into temporary
 * directories, never the default ~/.cache/bodhi.
 */
export function tempHome(prefix = 'bodhi-test-home-'): TempHome {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
