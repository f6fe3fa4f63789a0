import { ApiError } from '@bodhi/auth-middleware';
import { parseSettings, type SettingService } from '@bodhi/services';
import type { Request } from 'express';
import { AllowedHostMiddleware, allowedHostNames, hostName } from './allowed-host.middleware.js';

const server = (env: Record<string, string>) => parseSettings(env).server;

/** A request as Node parsed it: each header's lines (`headersDistinct`), and the target. */
interface Sent {
  host?: string | string[];
  forwardedHost?: string | string[];
  target?: string;
}

/** What the middleware does with a request that sent `sent` (a bare string: its one Host). */
function verdict(env: Record<string, string>, sent: Sent | string | undefined): unknown {
  const {
    host,
    forwardedHost,
    target = '/ui/home',
  } = typeof sent === 'object' ? sent : { host: sent };
  const lines = (value?: string | string[]) =>
    value === undefined ? undefined : ([] as string[]).concat(value);
  const req = {
    headers: { host: lines(host)?.[0] },
    headersDistinct: { host: lines(host), 'x-forwarded-host': lines(forwardedHost) },
    originalUrl: target,
  } as unknown as Request;
  const settings = { server: server(env) } as SettingService;
  let result: unknown = 'not called';
  new AllowedHostMiddleware(settings).use(req, {} as never, (err?: unknown) => {
    result = err;
  });
  return result;
}

const expectRefusal = (err: unknown, status: number, code: string) => {
  expect(err).toBeInstanceOf(ApiError);
  expect((err as ApiError).getStatus()).toBe(status);
  expect((err as ApiError).getResponse()).toEqual({
    error: { type: 'invalid_request_error', code, message: expect.any(String) },
  });
};

const LOCAL = { BODHI_HOST: '127.0.0.1' };
const PUBLIC = { BODHI_HOST: '0.0.0.0', BODHI_PUBLIC_HOST: 'Bodhi.Example' };

describe('hostName', () => {
  it.each([
    ['localhost:1135', 'localhost'],
    ['LocalHost', 'localhost'],
    ['127.0.0.1:41234', '127.0.0.1'],
    ['[::1]:1135', '[::1]'],
    ['[0:0:0:0:0:0:0:1]', '[::1]'],
    ['::1', '[::1]'],
    ['[FD00::AB]:8080', '[fd00::ab]'],
    ['bodhi.example', 'bodhi.example'],
  ])('%j names %j', (host, name) => {
    expect(hostName(host)).toBe(name);
  });

  it.each([
    undefined,
    '',
    ':1135',
    'bodhi.example:',
    'bodhi.example:123456',
    'user@bodhi.example',
    'bodhi.example/path',
    'bodhi.example?x',
    'bodhi .example',
    'local\thost',
    '[::1',
    '[::g]',
    '[1::2::3]',
    'bodhi.example:1135:1',
  ])('%j is no host', (host) => {
    expect(hostName(host)).toBeUndefined();
  });
});

describe('allowedHostNames', () => {
  it('is the bind host and its loopback aliases by default', () => {
    expect(allowedHostNames(server(LOCAL))).toEqual(new Set(['127.0.0.1', 'localhost', '[::1]']));
    expect(allowedHostNames(server({}))).toEqual(new Set(['localhost', '127.0.0.1', '[::1]']));
  });

  it('is the public host (never a wildcard bind address) when the server is reached elsewhere', () => {
    expect(allowedHostNames(server(PUBLIC))).toEqual(new Set(['bodhi.example']));
    expect(allowedHostNames(server({ BODHI_HOST: '::', BODHI_PUBLIC_HOST: 'b.example' }))).toEqual(
      new Set(['b.example']),
    );
  });

  it('adds the loopback aliases when either host is loopback', () => {
    expect(
      allowedHostNames(server({ BODHI_HOST: '127.0.0.1', BODHI_PUBLIC_HOST: 'bodhi.example' })),
    ).toEqual(new Set(['bodhi.example', '127.0.0.1', 'localhost', '[::1]']));
  });

  it('is exactly BODHI_ALLOWED_HOSTS when set, and nothing at all with *', () => {
    expect(
      allowedHostNames(server({ ...LOCAL, BODHI_ALLOWED_HOSTS: 'A.example, ::1, [fd00::1]' })),
    ).toEqual(new Set(['a.example', '[::1]', '[fd00::1]']));
    expect(allowedHostNames(server({ ...LOCAL, BODHI_ALLOWED_HOSTS: 'a.example,*' }))).toBe('any');
  });

  it('stops boot on an entry that is no host', () => {
    expect(() => allowedHostNames(server({ BODHI_ALLOWED_HOSTS: 'a.example,[::1' }))).toThrow(
      /'\[::1' .* is not a host name/,
    );
  });
});

describe('AllowedHostMiddleware', () => {
  it.each([
    ['the bind address, any port', LOCAL, '127.0.0.1:41234'],
    ['localhost', LOCAL, 'localhost:1135'],
    ['localhost in capitals', LOCAL, 'LOCALHOST:1135'],
    ['[::1]', LOCAL, '[::1]:1135'],
    ['the public host, any case, no port', PUBLIC, 'bodhi.EXAMPLE'],
    ['the public host on another port', PUBLIC, 'bodhi.example:8443'],
    ['anything with *', { ...PUBLIC, BODHI_ALLOWED_HOSTS: '*' }, 'attacker.example'],
  ])('lets through %s', (_name, env, host) => {
    expect(verdict(env, host)).toBeUndefined();
  });

  it.each([
    ['a rebinding name', LOCAL, 'attacker.example'],
    ['a rebinding name with our port', LOCAL, 'attacker.example:1135'],
    ['a name ending in ours', PUBLIC, 'evil-bodhi.example'],
    ['a sub-domain of ours', PUBLIC, 'x.bodhi.example'],
    ['loopback when the public host is not', PUBLIC, 'localhost'],
    ['the wildcard bind address', PUBLIC, '0.0.0.0:1135'],
    ['another IPv6 address', LOCAL, '[::2]'],
    ['no Host', LOCAL, undefined],
    ['an empty Host', LOCAL, ''],
    ['a malformed Host', LOCAL, 'localhost/evil'],
    ['user info', LOCAL, 'attacker.example@localhost'],
  ])('refuses %s with 421 host_not_allowed', (_name, env, host) => {
    expectRefusal(verdict(env, host), 421, 'host_not_allowed');
  });

  const PROXIED = { ...PUBLIC, BODHI_TRUST_PROXY: 'loopback' };

  it.each([
    [
      'a foreign Host, whatever X-Forwarded-Host says',
      { host: 'attacker.example', forwardedHost: 'bodhi.example' },
    ],
    ['a foreign first entry', { host: 'bodhi.example', forwardedHost: 'attacker.example' }],
    [
      'a foreign later entry',
      { host: 'bodhi.example', forwardedHost: 'bodhi.example, attacker.example' },
    ],
    [
      'a foreign second header line',
      { host: 'bodhi.example', forwardedHost: ['bodhi.example', 'attacker.example'] },
    ],
    ['an empty entry', { host: 'bodhi.example', forwardedHost: 'bodhi.example,' }],
  ])('behind a trusted proxy, refuses %s', (_name, sent) => {
    expectRefusal(verdict(PROXIED, sent), 421, 'host_not_allowed');
  });

  it('behind a trusted proxy, serves the public host named in Host and every entry', () => {
    const sent = { host: 'bodhi.example', forwardedHost: ['bodhi.example', 'Bodhi.Example:443'] };
    expect(verdict(PROXIED, sent)).toBeUndefined();
  });

  it('with no proxy trusted, leaves X-Forwarded-Host alone (Express ignores it too)', () => {
    const sent = { host: 'bodhi.example', forwardedHost: 'attacker.example' };
    expect(verdict(PUBLIC, sent)).toBeUndefined();
    expect(verdict({ ...PUBLIC, BODHI_TRUST_PROXY: '0' }, sent)).toBeUndefined();
  });

  it.each([
    ['a foreign name', 'http://attacker.example/ui/home'],
    ['a foreign name with our port', 'https://attacker.example:1135/ui/home'],
    ['user info', 'http://attacker.example@bodhi.example/ui/home'],
    ['another scheme', 'ftp://bodhi.example/ui/home'],
    ['no URL', '*'],
  ])('refuses an absolute-form target naming %s, whatever Host says', (_name, target) => {
    expectRefusal(verdict(PUBLIC, { host: 'bodhi.example', target }), 421, 'host_not_allowed');
  });

  it('serves an absolute-form target naming an allowed host', () => {
    const target = 'HTTP://Bodhi.Example:8443/ui/home?x=1';
    expect(verdict(PUBLIC, { host: 'bodhi.example', target })).toBeUndefined();
  });

  it.each([
    ['two allowed ones', LOCAL, ['localhost', 'localhost']],
    ['an allowed one, then a foreign one', LOCAL, ['localhost', 'attacker.example']],
    ['any two, even with *', { ...LOCAL, BODHI_ALLOWED_HOSTS: '*' }, ['a.example', 'b.example']],
  ])('refuses more than one Host (%s) with 400 duplicate_host', (_name, env, host) => {
    expectRefusal(verdict(env, { host }), 400, 'duplicate_host');
  });
});
