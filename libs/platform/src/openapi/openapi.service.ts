import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Injectable, OnApplicationBootstrap, RequestMethod } from '@nestjs/common';
import { GUARDS_METADATA, HTTP_CODE_METADATA, METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { AdminKeyGuard, ApiKeyGuard } from '../access/guards';
import { API_DOC, API_EXCLUDE, API_TAG, ApiOperationDoc } from './api-doc';
import { buildDocument, buildFragment, OpenApiFragment, RouteInfo } from './openapi.builder';

const METHODS: Partial<Record<RequestMethod, RouteInfo['method']>> = {
  [RequestMethod.GET]: 'get',
  [RequestMethod.POST]: 'post',
  [RequestMethod.PUT]: 'put',
  [RequestMethod.PATCH]: 'patch',
  [RequestMethod.DELETE]: 'delete',
  [RequestMethod.HEAD]: 'head',
  [RequestMethod.OPTIONS]: 'options',
};

/** The version the document shows: the package's, read once. */
const VERSION = (() => {
  try {
    return (JSON.parse(readFileSync(path.resolve(__dirname, '../../../../package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();

/**
 * The OpenAPI document of what this process serves, generated from its routes: the path and
 * method from Nest, the auth from the route's guards, the schemas from the zod schemas its
 * `@ApiDoc` names. Each process documents exactly its own endpoints (the standalone app, all of
 * them), so the document cannot promise an endpoint the process does not serve.
 */
@Injectable()
export class OpenApiService implements OnApplicationBootstrap {
  private fragment: OpenApiFragment = { paths: {}, tags: [] };
  private document: Record<string, unknown> | null = null;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
  ) {}

  onApplicationBootstrap(): void {
    this.fragment = buildFragment(this.routes());
    this.document = null;
  }

  /** This process's routes, as a fragment other documents can be merged from. */
  ownFragment(): OpenApiFragment {
    return this.fragment;
  }

  documentFor(): Record<string, unknown> {
    return (this.document ??= buildDocument([this.fragment], VERSION));
  }

  private routes(): RouteInfo[] {
    const routes: RouteInfo[] = [];
    for (const wrapper of this.discovery.getControllers()) {
      const cls = wrapper.metatype as (new (...args: unknown[]) => unknown) | null;
      if (!cls || Reflect.getMetadata(API_EXCLUDE, cls)) continue;
      const base = firstPath(Reflect.getMetadata(PATH_METADATA, cls));
      const tag = (Reflect.getMetadata(API_TAG, cls) as RouteInfo['tag']) ?? null;
      const classGuards: unknown[] = Reflect.getMetadata(GUARDS_METADATA, cls) ?? [];
      const proto = cls.prototype as Record<string, unknown>;
      for (const name of this.scanner.getAllMethodNames(proto)) {
        const handler = proto[name] as object;
        const methodPath = Reflect.getMetadata(PATH_METADATA, handler);
        const method = METHODS[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod];
        if (methodPath === undefined || !method || Reflect.getMetadata(API_EXCLUDE, handler)) continue;
        const guards = [...classGuards, ...((Reflect.getMetadata(GUARDS_METADATA, handler) as unknown[]) ?? [])];
        routes.push({
          method,
          path: joinPath(base, firstPath(methodPath)),
          status: (Reflect.getMetadata(HTTP_CODE_METADATA, handler) as number | undefined) ?? (method === 'post' ? 201 : 200),
          auth: guards.includes(AdminKeyGuard) ? 'adminKey' : guards.includes(ApiKeyGuard) ? 'apiKey' : null,
          tag,
          operationId: `${cls.name.replace(/Controller$/, '')}_${name}`,
          doc: (Reflect.getMetadata(API_DOC, handler) as ApiOperationDoc | undefined) ?? null,
        });
      }
    }
    return routes;
  }
}

function firstPath(p: unknown): string {
  return Array.isArray(p) ? String(p[0] ?? '') : typeof p === 'string' ? p : '';
}

function joinPath(a: string, b: string): string {
  const joined = `/${[a, b].map((s) => s.replace(/^\/+|\/+$/g, '')).filter(Boolean).join('/')}`;
  return joined === '/' ? '/' : joined;
}
