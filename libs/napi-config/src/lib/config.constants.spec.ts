import { bodhiEnvSchema } from '@bodhi/services';
import * as napiConfig from '../index.js';

describe('@bodhi/napi-config setting names', () => {
  it('exports every variable the settings schema reads, each named as itself, and no other', () => {
    // A zod object passes on only the keys of its shape: all the schema and its refinements read.
    const settings = Object.keys(bodhiEnvSchema.shape).sort();
    const exported = Object.entries(napiConfig).filter(([name]) => name.startsWith('BODHI_'));
    expect(exported.filter(([name, value]) => value !== name)).toEqual([]);
    expect(exported.map(([name]) => name).sort()).toEqual(settings);
  });
});
