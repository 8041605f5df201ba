import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { ProblemError } from './problem';

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message?: string;
}

/** A problem's `application/problem+json` body. */
export function problemJson(problem: ProblemError) {
  return {
    type: `https://waybill.dev/problems/${problem.code.toLowerCase().replace(/_/g, '-')}`,
    title: problem.title,
    status: problem.status,
    code: problem.code,
    ...(problem.detail ? { detail: problem.detail } : {}),
    ...(problem.errors ? { errors: problem.errors } : {}),
  };
}

/** Every error leaves as `application/problem+json`. Unknown errors are logged and answered 500. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(private readonly log: Logger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const problem = this.toProblem(error);
    if (problem.status >= 500 && !(error instanceof ProblemError)) this.log.error({ err: error }, 'unhandled error');
    void reply
      .status(problem.status)
      .headers({ 'content-type': 'application/problem+json', ...(problem.headers ?? {}) })
      .send(problemJson(problem));
  }

  private toProblem(error: unknown): ProblemError {
    if (error instanceof ProblemError) return error;
    if (error instanceof HttpException) {
      const status = error.getStatus();
      if (status === 404) return new ProblemError(404, 'NOT_FOUND', 'Not found', 'No such resource.');
      if (status === 413) return new ProblemError(413, 'PAYLOAD_TOO_LARGE', 'Payload too large', error.message);
      return new ProblemError(status, status < 500 ? 'INVALID_REQUEST' : 'INTERNAL', error.name, error.message);
    }
    const fe = error as FastifyLikeError;
    if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      if (fe.statusCode === 413) return new ProblemError(413, 'PAYLOAD_TOO_LARGE', 'Payload too large', fe.message);
      if (fe.statusCode === 415) return new ProblemError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported media type', fe.message);
      return new ProblemError(400, 'INVALID_REQUEST', 'Invalid request', fe.message);
    }
    return new ProblemError(500, 'INTERNAL', 'Internal error', 'Something went wrong on our side.');
  }
}
