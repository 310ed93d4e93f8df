// Output helpers shared by the cluster commands.
export { renderTable, shortId } from './table.js';
export { ago, humanDuration, compactNanos } from './time.js';
export { humanBytes, humanCpus } from './size.js';
export { printJson, formatOf } from './json.js';
export { taskStateName, nodeStateName, availabilityName, roleName } from './names.js';
