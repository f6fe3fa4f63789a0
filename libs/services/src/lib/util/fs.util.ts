import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Creates a directory (and missing parents) one level at a time. Node's recursive mkdir (which
 * TypeORM would use) loops forever under some virtual filesystems (/proc); this fails at
 * once with the reason (ENOENT, EACCES, EROFS, ENOTDIR) instead.
 */
export function ensureDirectory(dir: string): void {
  const missing: string[] = [];
  let current = dir;
  while (!fs.existsSync(current)) {
    missing.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  if (fs.existsSync(current) && !fs.statSync(current).isDirectory()) {
    throw new Error(`${current} is not a directory`);
  }
  for (const d of missing) fs.mkdirSync(d);
}
