/** Injection token of the validated `BodhiSettings` object. */
export const BODHI_SETTINGS = Symbol('BODHI_SETTINGS');
/** Namespace of the settings inside ConfigService (`config.get('bodhi')`). */
export const BODHI_SETTINGS_NAMESPACE = 'bodhi';
