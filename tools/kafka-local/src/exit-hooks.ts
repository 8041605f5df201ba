/**
 * Brokers started without `detached` belong to this Node process: when it
 * exits (normally, or through SIGINT/SIGTERM) they get SIGTERM so no JVM is
 * left holding ports and data-dir locks. SIGKILL of Node cannot be caught;
 * the pid file lets the next startKafka() on the same data dir clean up.
 */
const ownedPids = new Set<number>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let installed = false;

function killOwnedBrokers(): void {
  for (const pid of ownedPids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  ownedPids.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  killOwnedBrokers();
  uninstall();
  // A listener suppresses Node's default "terminate on signal"; restore it
  // unless the application registered its own handler for this signal.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killOwnedBrokers);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', killOwnedBrokers);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

export function adoptBroker(pid: number): void {
  ownedPids.add(pid);
  install();
}

export function releaseBroker(pid: number): void {
  ownedPids.delete(pid);
  if (ownedPids.size === 0) uninstall();
}
