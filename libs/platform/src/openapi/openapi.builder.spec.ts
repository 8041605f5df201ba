import { z } from 'zod';
import { buildDocument, buildFragment, mergeDocuments, RouteInfo } from './openapi.builder';

const route = (over: Partial<RouteInfo>): RouteInfo => ({
  method: 'get', path: '/v1/things', status: 200, auth: 'apiKey', tag: { name: 'Things' }, operationId: 'Things_list', doc: null, ...over,
});

describe('OpenAPI from routes', () => {
  it('turns a documented route into an operation: parameters, body, responses, security and implied problems', () => {
    const body = z.object({ name: z.string().min(1), size: z.number().int().default(3) }).strict();
    const { paths, tags } = buildFragment([
      route({
        method: 'patch',
        path: '/v1/things/:id',
        operationId: 'Things_update',
        doc: {
          summary: 'Change a thing',
          body,
          params: { id: 'The thing’s id.' },
          query: z.object({ limit: z.coerce.number().int().min(1).max(100).default(50) }),
          responses: { 200: { description: 'The thing.', schema: z.object({ id: z.string() }) } },
          problems: [409],
        },
      }),
    ]);
    const op = paths['/v1/things/{id}'].patch as Record<string, any>;
    expect(tags).toEqual([{ name: 'Things' }]);
    expect(op).toMatchObject({ operationId: 'Things_update', summary: 'Change a thing', tags: ['Things'], security: [{ apiKey: [] }] });
    expect(op.parameters).toEqual([
      { name: 'id', in: 'path', required: true, description: 'The thing’s id.', schema: { type: 'string' } },
      expect.objectContaining({ name: 'limit', in: 'query', required: false }),
    ]);
    expect(op.requestBody.content['application/json'].schema).toEqual({
      type: 'object',
      properties: { name: { type: 'string', minLength: 1 }, size: { type: 'integer', default: 3, minimum: expect.any(Number), maximum: expect.any(Number) } },
      required: ['name'],
      additionalProperties: false,
    });
    expect(Object.keys(op.responses).sort()).toEqual(['200', '400', '401', '404', '409', '413', '429']); // 429: every API-key route is rate limited
    expect(op.responses['409']).toEqual({ $ref: '#/components/responses/Problem409' });
  });

  it('lists an undocumented route with what Nest knows', () => {
    const { paths } = buildFragment([route({ method: 'post', path: '/health/poke', auth: null, tag: null, operationId: 'Health_poke', status: 202 })]);
    expect(paths['/health/poke'].post).toEqual({ operationId: 'Health_poke', summary: 'Health_poke', responses: { 202: { description: 'Success.' } } });
  });

  it('merges the documents of several services into one, every reference resolvable', () => {
    const a = buildDocument([buildFragment([route({ path: '/v1/a', tag: { name: 'A' } })])], '1.0.0');
    const b = buildDocument([buildFragment([route({ path: '/v1/b', tag: { name: 'B' } }), route({ method: 'post', path: '/v1/a', operationId: 'A_create' })])], '1.0.0');
    const merged = mergeDocuments([a, b]) as Record<string, any>;
    expect(merged.openapi).toBe('3.1.0');
    expect(Object.keys(merged.paths)).toEqual(['/v1/a', '/v1/b']);
    expect(Object.keys(merged.paths['/v1/a'])).toEqual(['get', 'post']);
    expect(merged.tags.map((t: { name: string }) => t.name)).toEqual(['A', 'B', 'Things']);
    const refs = [...JSON.stringify(merged).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1].split('/'));
    for (const ref of refs) expect(ref.reduce((node: any, key) => node?.[key], merged)).toBeDefined();
  });
});
