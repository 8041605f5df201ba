import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * Which of `pids` holds the client end of a loopback TCP connection from `localPort` to `remotePort` (Linux:
 * `/proc/net/tcp` gives the socket's inode, `/proc/<pid>/fd` which process holds it); null when it
 * cannot be told. The chaos run names the dispatcher instance behind each repeat with it.
 */
export function pidOfConnection(localPort: number, remotePort: number, pids: number[]): number | null {
  try {
    const hex = (port: number) => `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
    const inode = readFileSync('/proc/net/tcp', 'utf8')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .find((f) => f[1]?.endsWith(hex(localPort)) && f[2]?.endsWith(hex(remotePort)) && f[9] !== '0')?.[9];
    if (!inode) return null;
    const target = `socket:[${inode}]`;
    for (const pid of pids) {
      for (const fd of safeList(`/proc/${pid}/fd`)) {
        if (safeLink(`/proc/${pid}/fd/${fd}`) === target) return pid;
      }
    }
  } catch {
    // not Linux, or the connection is gone already
  }
  return null;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function safeLink(file: string): string | null {
  try {
    return readlinkSync(file);
  } catch {
    return null;
  }
}
