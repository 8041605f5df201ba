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
