// Preloaded with NODE_OPTIONS="--import .../cpu-profile.mjs" (where --cpu-prof is not allowed):
// profiles the whole process with the in-process inspector and writes a .cpuprofile to
// $SHOAL_CPU_PROFILE_DIR when it exits (an in-thread inspector session answers synchronously).
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.SHOAL_CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.start');
  process.once('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (!err) writeFileSync(join(dir, `daemon-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
