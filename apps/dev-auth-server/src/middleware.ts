// The shape of the Koa middleware this app mounts on the provider (oidc-provider's Provider
// is a Koa application). Taken from the Provider's own typing, so the app needs no direct
// dependency on koa.
import type Provider from 'oidc-provider';

export type Middleware = Provider['middleware'][number];
export type Context = Parameters<Middleware>[0];
