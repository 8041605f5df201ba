import { z } from 'zod';
import type { ApiOperationDoc, ProblemStatus } from './api-doc';

/** One route as Nest registered it, with what its decorators say. */
export interface RouteInfo {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete' | 'head' | 'options';
  /** Nest's path, `/v1/channels/:id`. */
  path: string;
  /** The status Nest answers on success (`@HttpCode`, or its default: 201 for POST, 200 otherwise). */
  status: number;
  auth: 'apiKey' | 'adminKey' | null;
  tag: { name: string; description?: string } | null;
  operationId: string;
  doc: ApiOperationDoc | null;
}

type JsonSchema = Record<string, unknown>;

/** `paths` and `tags` of an OpenAPI document: what one process serves. */
export interface OpenApiFragment {
  paths: Record<string, Record<string, unknown>>;
  tags: Array<{ name: string; description?: string }>;
}

const PROBLEM_TEXT: Record<ProblemStatus, string> = {
  400: 'Malformed or invalid input; `errors` names each field path at fault. Nothing was changed.',
  401: 'Missing or unknown key.',
  404: 'No such resource in the caller’s organisation.',
  409: 'Conflicts with the current state.',
  413: 'Over the size limit: 1 MiB per payload, and the endpoint’s body limit (64 KiB unless stated).',
  422: 'Valid input that cannot be acted on.',
  429: 'The organisation is over its rate limit (`WAYBILL_RATE_LIMIT` calls per second); retry after `Retry-After` seconds.',
  503: 'Not able to answer now; retry after `Retry-After` seconds.',
};

/** The problem+json body every error has. */
export const ProblemSchema: JsonSchema = {
  type: 'object',
  required: ['type', 'title', 'status'],
  properties: {
    type: { type: 'string', format: 'uri' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string', description: 'A stable error code, e.g. `CHANNEL_IN_USE`.' },
    detail: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['path', 'message'],
        properties: { path: { type: 'string', examples: ['body.retryPolicy.maxRetries'] }, message: { type: 'string' } },
      },
    },
  },
};

/** A zod schema as JSON Schema (2020-12, the dialect of OpenAPI 3.1). */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  return rest;
}

/** The OpenAPI `paths` and `tags` of some routes. */
export function buildFragment(routes: RouteInfo[]): OpenApiFragment {
  const paths: OpenApiFragment['paths'] = {};
  const tags = new Map<string, { name: string; description?: string }>();
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    if (route.tag) tags.set(route.tag.name, route.tag);
    (paths[path] ??= {})[route.method] = operation(route);
  }
  return { paths, tags: [...tags.values()] };
}

function operation(route: RouteInfo): Record<string, unknown> {
  const doc = route.doc;
  const pathParams = [...route.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]);
  const parameters: unknown[] = pathParams.map((name) => ({
    name,
    in: 'path',
    required: true,
    description: doc?.params?.[name],
    schema: { type: 'string' },
  }));
  if (doc?.query) {
    const q = jsonSchema(doc.query, 'input');
    const required = new Set((q.required as string[] | undefined) ?? []);
    for (const [name, schema] of Object.entries((q.properties as Record<string, JsonSchema>) ?? {})) {
      parameters.push({ name, in: 'query', required: required.has(name), description: schema.description, schema });
    }
  }
  for (const [name, h] of Object.entries(doc?.headers ?? {})) {
    parameters.push({ name, in: 'header', required: h.required ?? false, description: h.description, schema: h.schema ? jsonSchema(h.schema, 'input') : { type: 'string' } });
  }
  const responses: Record<string, unknown> = {};
  const success = doc?.responses ?? { [route.status]: { description: 'Success.' } };
  for (const [status, r] of Object.entries(success)) {
    responses[status] = {
      description: r.description,
      ...(r.headers && { headers: Object.fromEntries(Object.entries(r.headers).map(([k, d]) => [k, { description: d, schema: { type: 'string' } }])) }),
      ...(r.schema && { content: { 'application/json': { schema: jsonSchema(r.schema, 'output') } } }),
    };
  }
  const problems = new Set<ProblemStatus>(doc?.problems ?? []);
  // Path ids and query values are checked too (text, bounded), and every body has a limit.
  if (doc?.body || doc?.query || doc?.headers || pathParams.length > 0) problems.add(400);
  if (doc?.body) problems.add(413);
  if (route.auth) problems.add(401);
  if (route.auth === 'apiKey') problems.add(429);
  if (pathParams.length > 0 || route.auth === 'adminKey') problems.add(404);
  for (const status of [...problems].sort()) {
    responses[String(status)] = { $ref: `#/components/responses/Problem${status}` };
  }
  return {
    operationId: route.operationId,
    summary: doc?.summary ?? route.operationId,
    ...(doc?.description && { description: doc.description }),
    ...(route.tag && { tags: [route.tag.name] }),
    ...(route.auth && { security: [{ [route.auth]: [] }] }),
    ...(parameters.length > 0 && { parameters }),
    ...(doc?.body && { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(doc.body, 'input') } } } }),
    responses,
  };
}

/** A whole OpenAPI 3.1 document from fragments (one per process, or one per service). */
export function buildDocument(fragments: OpenApiFragment[], version: string): Record<string, unknown> {
  const paths: OpenApiFragment['paths'] = {};
  const tags = new Map<string, { name: string; description?: string }>();
  for (const f of fragments) {
    for (const [path, ops] of Object.entries(f.paths)) paths[path] = { ...(paths[path] ?? {}), ...ops };
    for (const t of f.tags) tags.set(t.name, t);
  }
  const sortedPaths = Object.fromEntries(Object.entries(paths).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return {
    openapi: '3.1.0',
    info: {
      title: 'Waybill API',
      version,
      description:
        'Waybill delivers business transactions (JSON, XML, X12) to trading partners’ channels. ' +
        'Errors are `application/problem+json`; lists take `?limit=` (1–100) and `?cursor=` and answer `{ data, nextCursor }`.',
    },
    tags: [...tags.values()].sort((a, b) => a.name.localeCompare(b.name)),
    paths: sortedPaths,
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'An organisation’s API key: `Authorization: Bearer wb_…`.' },
        adminKey: { type: 'http', scheme: 'bearer', description: 'The deployment’s admin key (`WAYBILL_ADMIN_KEY`).' },
      },
      schemas: { Problem: ProblemSchema },
      responses: Object.fromEntries(
        (Object.keys(PROBLEM_TEXT) as unknown as ProblemStatus[]).map((s) => [
          `Problem${s}`,
          {
            description: PROBLEM_TEXT[s],
            content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
          },
        ]),
      ),
    },
  };
}

/**
 * One document from several (each service's own `/openapi.json`): their paths and tags together,
 * the components and info of the first. What the edge serves in the distributed mode.
 */
export function mergeDocuments(documents: Array<Record<string, unknown>>): Record<string, unknown> {
  const [first] = documents;
  if (!first) throw new Error('no document to merge');
  const fragments = documents.map((d) => ({
    paths: (d.paths ?? {}) as OpenApiFragment['paths'],
    tags: (d.tags ?? []) as OpenApiFragment['tags'],
  }));
  const merged = buildDocument(fragments, String((first.info as { version?: string } | undefined)?.version ?? '0.0.0'));
  return { ...merged, info: first.info, components: first.components };
}
