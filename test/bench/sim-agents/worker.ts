// Child-process entry: runs one SimFleet so the agents' CPU and memory are not the manager's.
// Talks to its parent over the IPC channel: {ready}, {progress}, and 'stop'.
import { SimFleet, type FleetOptions } from './fleet.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as FleetOptions;
const fleet = new SimFleet(opts);
const send = (m: object): void => {
  if (process.connected) process.send?.(m);
};

process.on('message', (m) => {
  if (m === 'reasons') send({ type: 'reasons', reasons: fleet.failureReasons() });
  if (m === 'stop') {
    fleet.stop();
    process.disconnect();
    setTimeout(() => process.exit(0), 200).unref();
  }
});
process.on('disconnect', () => {
  fleet.stop();
  setTimeout(() => process.exit(0), 200).unref();
});

fleet.start().then(
  () => send({ type: 'ready', connected: fleet.connected }),
  (err: Error) => send({ type: 'error', message: err.message }),
);
// progress for the parent's log; the measurement itself is read from the manager's store
setInterval(() => send({ type: 'progress', running: fleet.runningReported, connected: fleet.connected, failures: fleet.failures }), 1_000).unref();
