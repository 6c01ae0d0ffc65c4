/** @module The one libsodium instance, initialised before any module that imports it runs. */
import sodiumModule from 'libsodium-wrappers';

await sodiumModule.ready;

/** libsodium, ready to use. */
export const sodium = sodiumModule;
