import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { problemBody, ProblemError, Problems } from './problem';
import { isUnavailable } from './unavailable';

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message?: string;
}

/**
 * Every error leaves as `application/problem+json`. A store that cannot be reached (PostgreSQL or
 * the broker restarting) is 503 with `Retry-After`, logged as a warning; other unknown errors are
 * logged and answered 500.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(private readonly log: Logger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const problem = toProblem(error, http.getRequest<FastifyRequest | undefined>());
    if (problem === STORE_UNAVAILABLE) this.log.warn({ err: error }, 'a store could not be reached: answered 503');
    else if (problem.status >= 500 && !(error instanceof ProblemError)) this.log.error({ err: error }, 'unhandled error');
    void reply
      .status(problem.status)
      .headers({ 'content-type': 'application/problem+json', ...(problem.headers ?? {}) })
      .send(problemBody(problem));
  }
}

/**
 * The problem an error is for a caller. Errors of the HTTP layer (Fastify's body parsing, Nest's
 * routing) arrive as `HttpException`s or Fastify errors: each gets a stable code and a title of its
 * own, never the class name of the error.
 */
export function toProblem(error: unknown, request?: FastifyRequest): ProblemError {
  if (error instanceof ProblemError) return error;
  if (isUnavailable(error)) return STORE_UNAVAILABLE;
  const status = error instanceof HttpException ? error.getStatus() : (error as FastifyLikeError | null)?.statusCode;
  const message = error instanceof HttpException ? error.message : ((error as FastifyLikeError | null)?.message ?? '');
  if (typeof status !== 'number' || status < 400 || status >= 500) {
    return new ProblemError(500, 'INTERNAL', 'Internal error', 'Something went wrong on our side.');
  }
  switch (status) {
    case 404:
      return new ProblemError(404, 'NOT_FOUND', 'Not found', 'No such resource.');
    case 413: {
      const limit = request?.routeOptions?.bodyLimit;
      return new ProblemError(
        413,
        'PAYLOAD_TOO_LARGE',
        'Payload too large',
        limit ? `The body is larger than this endpoint accepts (${limit} bytes).` : 'The body is larger than this endpoint accepts.',
      );
    }
    case 415:
      return new ProblemError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported media type', 'The body must be application/json.');
    default: {
      const what = bodyProblem(message);
      return new ProblemError(status, 'INVALID_REQUEST', 'Invalid request', `The body ${what}.`, [{ path: 'body', message: what }]);
    }
  }
}

/** A store could not be reached: nothing the caller did; the same call a moment later should succeed. */
const STORE_UNAVAILABLE = Problems.unavailable(
  'Waybill could not reach its database or broker just now. Try again shortly; a transaction sent with an Idempotency-Key is stored at most once.',
  1,
);

/** What Fastify's body parsing said, in the API's words. */
function bodyProblem(message: string): string {
  if (/not valid JSON|forbidden prototype|constructor/i.test(message)) return 'is not valid JSON';
  if (/cannot be empty/i.test(message)) return 'is empty, but the content type says JSON';
  if (/Content-Length/i.test(message)) return 'is not as long as its Content-Length says';
  return message || 'cannot be read';
}
