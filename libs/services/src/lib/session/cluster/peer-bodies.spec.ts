import { ackFormat, barrierFormat, probeFormat } from './peer-bodies.js';

const ID = '0b7d3f4e-8c1a-4d2b-9e6f-1a2b3c4d5e6f';
const OTHER = 'f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9';

/** The signed bodies of the listeners' messages: exactly these, or nothing. */
describe('peer message bodies', () => {
  it('a probe is instance:counter:sentAt:serving, and reads back', () => {
    const probe = { instance: ID, counter: 7, sentAt: 1_735_689_600_000, serving: true };
    expect(probeFormat.write(probe)).toBe(`${ID}:7:1735689600000:1`);
    expect(probeFormat.read(probeFormat.write(probe))).toEqual(probe);
    expect(probeFormat.read(`${ID}:7:1735689600000:0`)).toMatchObject({ serving: false });
  });

  it('a barrier is token:sentAt, an answer token:instance', () => {
    expect(barrierFormat.write({ token: ID, sentAt: 5 })).toBe(`${ID}:5`);
    expect(barrierFormat.read(`${ID}:5`)).toEqual({ token: ID, sentAt: 5 });
    expect(ackFormat.write({ token: ID, instance: OTHER })).toBe(`${ID}:${OTHER}`);
    expect(ackFormat.read(`${ID}:${OTHER}`)).toEqual({ token: ID, instance: OTHER });
  });

  it.each([
    ['an earlier release’s probe (no send time)', `${ID}:7:1`],
    ['a serving flag other than 0 or 1', `${ID}:7:5:2`],
    ['an instance that is no UUID', 'EVIL:0:0:1'],
    ['a number past the safe integers', `${ID}:1234567890123456:5:1`],
    ['a leading zero', `${ID}:07:5:1`],
    ['a field more', `${ID}:7:5:1:x`],
  ])('refuses as a probe %s', (_, text) => {
    expect(probeFormat.read(text)).toBeUndefined();
  });

  it('refuses one kind read as another', () => {
    const ack = ackFormat.write({ token: ID, instance: OTHER });
    expect(probeFormat.read(ack)).toBeUndefined();
    expect(barrierFormat.read(ack)).toBeUndefined();
    expect(ackFormat.read(barrierFormat.write({ token: ID, sentAt: 5 }))).toBeUndefined();
  });
});
