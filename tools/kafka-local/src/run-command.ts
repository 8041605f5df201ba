import { spawn } from 'node:child_process';

export interface CommandResult {
  output: string;
}

export interface CommandOptions {
  /** What is being done, for error messages ("Fetching Kafka with Maven"). */
  what: string;
  /** Kill the command (SIGTERM) after this long. */
  timeoutMs: number;
  /** Advice when the executable does not exist, e.g. how to install it. */
  notFoundHint: string;
}

/** Output kept for error messages; Maven and Java can be chatty on failure. */
const MAX_OUTPUT_CHARS = 64 * 1024;

/**
 * Runs a short-lived command to completion, collecting stdout and stderr
 * interleaved. Rejects with the output tail so failures explain themselves.
 */
export function runCommand(command: string, args: string[], options: CommandOptions): Promise<CommandResult> {
  const { what } = options;
  return new Promise((resolve, reject) => {
    // `timeout` sends SIGTERM, reported below as a signal exit.
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-MAX_OUTPUT_CHARS);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', (error: NodeJS.ErrnoException) => {
      const hint = error.code === 'ENOENT' ? `: '${command}' not found; ${options.notFoundHint}` : `: ${error.message}`;
      reject(new Error(`${what} failed to start${hint}`));
    });
    child.once('close', (code, signal) => {
      if (code === 0) {
        resolve({ output });
        return;
      }
      const status = signal ? `signal ${signal}` : `exit code ${code}`;
      const tail = output.trimEnd().split('\n').slice(-40).join('\n');
      reject(new Error(`${what} failed with ${status}:\n${tail}`));
    });
  });
}
