import express from 'express';
import { InvalidSettingsError } from './config-issue.js';
import { parseSettings } from './setting.schema.js';

const trustProxy = (value: string | undefined) =>
  parseSettings({ BODHI_TRUST_PROXY: value }).server.trustProxy;

describe('BODHI_TRUST_PROXY', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['false', false],
    ['TRUE', true],
    ['1', 1],
    ['0', 0],
    ['loopback', ['loopback']],
    [
      ' 10.0.0.1, 10.1.0.0/16 ,fd00::/8, 192.168.0.0/255.255.0.0, uniquelocal',
      ['10.0.0.1', '10.1.0.0/16', 'fd00::/8', '192.168.0.0/255.255.0.0', 'uniquelocal'],
    ],
  ])('reads %j as Express takes it: %j', (value, expected) => {
    const parsed = trustProxy(value);
    expect(parsed).toEqual(expected);
    // Express compiles the value when it is set: what the schema passes, it accepts.
    expect(() => express().set('trust proxy', parsed)).not.toThrow();
  });

  it.each([
    ['10.0.0.300', "'10.0.0.300' is not an IP address"],
    ['proxy.example', "'proxy.example' is not an IP address"],
    ['10.0.0.0/33', "'10.0.0.0/33' has no valid prefix length (1-32)"],
    ['fd00::/0', "'fd00::/0' has no valid prefix length (1-128)"],
    ['10.0.0.0/255.0.255.0', "'10.0.0.0/255.0.255.0' has no valid prefix length"],
    ['loopback,,10.0.0.1', 'has an empty entry'],
  ])('stops boot on %j, naming the variable and the entry', (value, message) => {
    let error: unknown;
    try {
      trustProxy(value);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidSettingsError);
    expect((error as InvalidSettingsError).issues).toEqual([
      { variable: 'BODHI_TRUST_PROXY', message: expect.stringContaining(message) },
    ]);
    // Each of these would otherwise throw inside Express (or trust the wrong peers).
    expect(() => express().set('trust proxy', value.split(','))).toThrow();
  });
});
