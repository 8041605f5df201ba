import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';

/**
 * The typed API client: paths, parameters and answers come from `schema.d.ts`, which
 * `openapi-typescript` generates from the committed snapshot `openapi.json`; a test keeps that
 * snapshot equal to what Waybill serves, so a contract change breaks the build, not the console.
 */
export type Paths = paths;

type JsonOf<R> = R extends { content: { 'application/json': infer T } } ? T : never;
/** The JSON answer of `method path` with `status`. */
export type Answer<P extends keyof paths, M extends keyof paths[P], S extends number = 200> = paths[P][M] extends {
  responses: infer R;
}
  ? S extends keyof R
    ? JsonOf<R[S]>
    : never
  : never;

export type Channel = Answer<'/v1/channels/{id}', 'get'>;
export type ChannelHealth = Answer<'/v1/channels/{id}/health', 'get'>;
export type Relationship = Answer<'/v1/relationships/{id}', 'get'>;
export type Transaction = Answer<'/v1/transactions/{id}', 'get'>;
export type TransactionSummary = Answer<'/v1/transactions', 'get'>['data'][number];
export type TransactionEvent = Answer<'/v1/transactions/{id}/events', 'get'>['data'][number];
export type SentRequest = Answer<'/v1/transactions/{id}/request', 'get'>;
export type Alert = Answer<'/v1/alerts', 'get'>['data'][number];
export type ApiKey = Answer<'/v1/api-keys', 'get'>['data'][number];
export type IssuedKey = Answer<'/v1/api-keys', 'post', 201>;
export type Settings = Answer<'/v1/settings', 'get'>;
export type Organization = Answer<'/v1/organization', 'get'>;
export type DeliveryStats = Answer<'/v1/stats/deliveries', 'get'>;
export type TransactionStats = Answer<'/v1/stats/transactions', 'get'>;
export type PendingMessage = Answer<'/v1/channels/{id}/messages/pending', 'get'>['data'][number];
export type TestResult = Answer<'/v1/channels/{id}/test', 'post'>;

export interface FieldError {
  path: string;
  message: string;
}

/** A problem+json answer, as an error the screens can show (on the fields it names, when it names any). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string | undefined,
    readonly errors: FieldError[],
    readonly code: string | undefined,
  ) {
    super(detail ?? title);
  }

  /** The message of the field at `path` (`body.auth.password`, `query.from`…), if the API named it. */
  fieldMessage(path: string): string | undefined {
    return this.errors.find((e) => e.path === path)?.message;
  }
}

export async function problemOf(response: Response, body: unknown): Promise<ApiError> {
  const p = (body ?? {}) as { title?: string; detail?: string; errors?: FieldError[]; code?: string };
  return new ApiError(response.status, p.title ?? response.statusText ?? 'Error', p.detail, Array.isArray(p.errors) ? p.errors : [], p.code);
}

export type Api = ReturnType<typeof createApi>;

/**
 * A client that signs every call with `apiKey` (the `Authorization` header: the key never goes
 * in a URL), and tells `onUnauthorized` when the key no longer works.
 */
export function createApi(apiKey: string, onUnauthorized: () => void) {
  const client = createClient<paths>({ baseUrl: '' });
  const auth: Middleware = {
    onRequest({ request }) {
      request.headers.set('authorization', `Bearer ${apiKey}`);
      return request;
    },
    onResponse({ response }) {
      if (response.status === 401) onUnauthorized();
      return response;
    },
  };
  client.use(auth);
  return client;
}

/** The data of an openapi-fetch result, or its problem thrown as an `ApiError`. */
export async function data<T>(result: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const r = await result;
  if (r.error !== undefined || !r.response.ok) throw await problemOf(r.response, r.error);
  return r.data as T;
}

/** Checks a key by asking for the organisation it belongs to (no client kept). */
export async function organizationOf(apiKey: string): Promise<Organization> {
  const client = createClient<paths>({ baseUrl: '' });
  return data(client.GET('/v1/organization', { headers: { authorization: `Bearer ${apiKey}` } }));
}
