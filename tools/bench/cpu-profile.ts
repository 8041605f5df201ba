/**
 * Preloaded into the Waybill processes when the bench runs with BENCH_CPU_PROF_DIR (Node refuses
 * `--cpu-prof` in NODE_OPTIONS): profiles with the in-thread inspector and writes
 * `<dir>/<app>-<pid>.cpuprofile` when the process exits (a clean shutdown; not on SIGKILL).
 * With BENCH_PHASE set, it profiles only between two SIGUSR2 (the bench sends them
 * around that phase), so that the profile says where one phase's time goes.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  const app = /apps\/([^/]+)\/src\/main\.ts$/.exec(process.argv[1] ?? '')?.[1] ?? path.basename(process.argv[1] ?? 'node', '.ts');
  let state: 'idle' | 'running' | 'written' = 'idle';
  const start = () => {
    session.post('Profiler.start');
    state = 'running';
  };
  const write = () => {
    if (state !== 'running') return;
    state = 'written';
    // The in-thread session answers synchronously, so this completes before the process ends.
    session.post('Profiler.stop', (err, result) => {
      if (!err && result?.profile) writeFileSync(path.join(dir, `${app}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  };
  if (process.env.BENCH_PHASE) process.on('SIGUSR2', () => (state === 'idle' ? start() : write()));
  else start();
  process.on('exit', write);
}
