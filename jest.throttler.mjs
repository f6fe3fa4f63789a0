// @nestjs/throttler 6 is CommonJS that require()s @nestjs/common, which Nest 12 ships as ES
// modules only. Node loads that (require of an ES module); Jest 29's module system cannot. So
// under Jest (jest.preset.cjs maps the package here) this evaluates the package's own files
// with a require that hands them the Nest modules Jest has loaded: the real throttler, on the
// same Nest (and decorator metadata) as the code under test.
import * as common from '@nestjs/common';
import * as core from '@nestjs/core';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

// Jest's require under Jest: builtins (crypto, net, async_hooks) and paths only.
const nodeRequire = createRequire(import.meta.url);
const nest = { '@nestjs/common': common, '@nestjs/core': core };
const loaded = new Map();

function load(file) {
  if (loaded.has(file)) return loaded.get(file).exports;
  const module = { exports: {} };
  loaded.set(file, module);
  const dir = path.dirname(file);
  const require = (id) =>
    nest[id] ?? (id.startsWith('.') ? load(path.join(dir, `${id}.js`)) : nodeRequire(id));
  new Function(
    'exports',
    'require',
    'module',
    '__filename',
    '__dirname',
    readFileSync(file, 'utf8'),
  )(module.exports, require, module, file, dir);
  return module.exports;
}

// Its package.json: the bare name resolves to this very file under Jest.
const manifest = nodeRequire.resolve('@nestjs/throttler/package.json');
const throttler = load(path.join(path.dirname(manifest), nodeRequire(manifest).main));

export const {
  getOptionsToken,
  getStorageToken,
  DEFAULT_IPV6_SUBNET_PREFIX,
  normalizeIp,
  ThrottlerStorage,
  Throttle,
  SkipThrottle,
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  throttlerMessage,
  ThrottlerException,
  ThrottlerGuard,
  ThrottlerModule,
  DEFAULT_SWEEP_INTERVAL,
  ThrottlerStorageService,
  seconds,
  minutes,
  hours,
  days,
  weeks,
} = throttler;
