import { BODHI_SETTING_VARIABLES } from '@bodhi/services/testing';
import * as napiConfig from '../index.js';

describe('@bodhi/napi-config setting names', () => {
  it('exports every variable the settings schema reads, each named as itself, and no other', () => {
    // Each section reads exactly the variables it declares: all the settings there are.
    const settings = [...BODHI_SETTING_VARIABLES].sort();
    const exported = Object.entries(napiConfig).filter(([name]) => name.startsWith('BODHI_'));
    expect(exported.filter(([name, value]) => value !== name)).toEqual([]);
    expect(exported.map(([name]) => name).sort()).toEqual(settings);
  });
});
