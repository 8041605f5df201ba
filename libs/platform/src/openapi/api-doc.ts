import { SetMetadata } from '@nestjs/common';
import { z } from 'zod';

/** Problem statuses an operation may answer, each documented with the problem+json schema. */
export type ProblemStatus = 400 | 401 | 404 | 409 | 413 | 422 | 429 | 503;

export interface ApiResponseDoc {
  description: string;
  /** The body's schema (its output side); none for `204`. */
  schema?: z.ZodType;
  /** Response headers worth knowing, by name. */
  headers?: Record<string, string>;
}

/** What a route tells its OpenAPI operation. Everything else (path, method, auth) is read from Nest. */
export interface ApiOperationDoc {
  summary: string;
  description?: string;
  /** The request body (its input side: defaults make fields optional). */
  body?: z.ZodType;
  /** Query parameters: an object schema, one parameter per property. */
  query?: z.ZodType;
  /** Path parameters' descriptions, by name (`:id` → `id`). */
  params?: Record<string, string>;
  /** Request headers, by name. */
  headers?: Record<string, { description: string; schema?: z.ZodType; required?: boolean }>;
  /** Success responses by status. Problem responses are added from `problems` and from what the route takes. */
  responses: Record<number, ApiResponseDoc>;
  /** Problem statuses beyond the ones implied (400 with a body or query, 401 behind a key, 404 with a path id). */
  problems?: ProblemStatus[];
}

export const API_DOC = 'waybill:api-doc';
export const API_TAG = 'waybill:api-tag';
export const API_EXCLUDE = 'waybill:api-exclude';

/** Documents one route in `/openapi.json`. */
export const ApiDoc = (doc: ApiOperationDoc): MethodDecorator => SetMetadata(API_DOC, doc);

/** Groups a controller's routes under a tag in `/openapi.json`. */
export const ApiTag = (name: string, description?: string): ClassDecorator => SetMetadata(API_TAG, { name, description });

/** Leaves a controller or route out of `/openapi.json`. */
export const ApiExclude = (): ClassDecorator & MethodDecorator => SetMetadata(API_EXCLUDE, true);

/** A list answer's schema: `{ data: [...], nextCursor }`. */
export function pageSchema<T extends z.ZodType>(item: T) {
  return z.object({ data: z.array(item), nextCursor: z.string().nullable().describe('Pass as `?cursor=` for the next page; null on the last.') });
}
