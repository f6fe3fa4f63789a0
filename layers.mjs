// The server's layers, lowest first: each Nx library may import only the ones before it.
// One list for the lint rule (eslint.config.mjs) and its proof (scripts/check-layer-boundaries.mjs).
export const LAYERS = ['services', 'app-service-builder', 'auth-middleware', 'routes-app', 'server-app', 'napi-config'];
