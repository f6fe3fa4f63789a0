/** Injection token of the validated `BodhiSettings` object. */
export const BODHI_SETTINGS = Symbol('BODHI_SETTINGS');
