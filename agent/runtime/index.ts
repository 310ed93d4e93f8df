// The container runtime's public surface.
export { ContainerRuntime, type RuntimeOptions } from './runtime.js';
export * from './types.js';
export * from './errors.js';
export { resolveUser, type Credentials } from './user.js';
