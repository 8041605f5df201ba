import { z } from 'zod';

export interface FieldError {
  path: string;
  message: string;
}

/**
 * An error with a stable code, turned into `application/problem+json` only at the HTTP edge.
 * Services throw these; nothing else reaches a caller.
 */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: FieldError[],
    readonly headers?: Record<string, string>,
  ) {
    super(detail ?? title);
  }
}

export const Problems = {
  invalid: (errors: FieldError[], detail = 'The request is not valid.') =>
    new ProblemError(400, 'INVALID_REQUEST', 'Invalid request', detail, errors),
  unauthorized: () =>
    new ProblemError(401, 'UNAUTHORIZED', 'Unauthorized', 'A valid API key is required: Authorization: Bearer <apiKey>.'),
  notFound: (what: string, id?: string) =>
    new ProblemError(404, 'NOT_FOUND', 'Not found', id ? `${what} ${id} does not exist.` : `${what} does not exist.`),
  conflict: (code: string, detail: string) => new ProblemError(409, code, 'Conflict', detail),
  tooLarge: (detail: string) => new ProblemError(413, 'PAYLOAD_TOO_LARGE', 'Payload too large', detail),
  unprocessable: (code: string, detail: string) => new ProblemError(422, code, 'Unprocessable', detail),
  tooManyRequests: (detail: string, retryAfterS: number) =>
    new ProblemError(429, 'RATE_LIMITED', 'Too many requests', detail, undefined, { 'retry-after': String(retryAfterS) }),
  unavailable: (detail: string, retryAfterS: number) =>
    new ProblemError(503, 'UNAVAILABLE', 'Service unavailable', detail, undefined, { 'retry-after': String(retryAfterS) }),
};

/** The `application/problem+json` body of a problem: what every error of the API answers. */
export function problemBody(p: ProblemError): Record<string, unknown> {
  return {
    type: `https://waybill.dev/problems/${p.code.toLowerCase().replace(/_/g, '-')}`,
    title: p.title,
    status: p.status,
    code: p.code,
    ...(p.detail ? { detail: p.detail } : {}),
    ...(p.errors ? { errors: p.errors } : {}),
  };
}

/**
 * A whole HTTP/1.1 answer carrying a problem, for the places that only have a socket (a request
 * Node could not parse): the connection is closed after it.
 */
export function rawProblemResponse(p: ProblemError): string {
  const body = JSON.stringify(problemBody(p));
  return (
    `HTTP/1.1 ${p.status} ${STATUS_TEXT[p.status] ?? 'Error'}\r\n` +
    `Content-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** Validates `input` with `schema`; a failure is a 400 naming every field path at fault. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, where = 'body'): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw Problems.invalid(
    result.error.issues.map((i) => ({
      path: [where, ...i.path.map(String)].join('.').replace(/\.(\d+)(?=\.|$)/g, '[$1]'),
      message: i.message,
    })),
  );
}
