import { createServer, type Server } from 'node:net';
import { errorMessage, isErrnoException } from './fs-util';

const LOOPBACK = '127.0.0.1';

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: LOOPBACK, port, exclusive: true }, () => {
      resolve(server);
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}

/**
 * Asks the kernel for `count` distinct free loopback ports. All sockets stay
 * open until every port is read, otherwise the kernel may hand out the same
 * port twice.
 */
export async function pickFreePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await listen(0));
    return servers.map((server) => {
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('Unexpected server address');
      return address.port;
    });
  } finally {
    await Promise.all(servers.map(close));
  }
}

/**
 * Fails fast when a port is taken: otherwise the readiness probe could talk to
 * whatever already listens there (possibly another Kafka) instead of our broker.
 */
export async function assertPortFree(port: number, purpose: string): Promise<void> {
  let server: Server;
  try {
    server = await listen(port);
  } catch (error) {
    const code = isErrnoException(error) ? error.code : errorMessage(error);
    throw new Error(`Cannot use ${LOOPBACK}:${port} as the Kafka ${purpose} port (${code}); is another broker running?`);
  }
  await close(server);
}
