// Rolling updates and rollbacks of services: import from here.
export { DEFAULT_SLOTS_PER_TX, Updater, type UpdaterOptions } from './updater.js';
export { DEFAULT_MONITOR_MS, effectiveConfig, isOutdated, type EffectiveUpdateConfig } from './config.js';
export { HELD_STATE, START_FIRST_LABEL, startFirstPending } from './slots.js';
