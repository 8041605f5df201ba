import { Injectable, OnApplicationBootstrap, RequestMethod } from '@nestjs/common';
import { GUARDS_METADATA, METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { AdminKeyGuard, ApiKeyGuard } from './guards';

export type RouteAuthKind = 'apiKey' | 'adminKey';

/**
 * Which key each route takes, read from the guards its controller and handler declare: the
 * request gate checks it from the headers, before any body is read, with the same guards still
 * in place behind it.
 */
@Injectable()
export class RouteAuth implements OnApplicationBootstrap {
  private readonly byRoute = new Map<string, RouteAuthKind>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
  ) {}

  onApplicationBootstrap(): void {
    this.byRoute.clear();
    for (const wrapper of this.discovery.getControllers()) {
      const cls = wrapper.metatype as (new (...args: unknown[]) => unknown) | null;
      if (!cls) continue;
      const base = firstPath(Reflect.getMetadata(PATH_METADATA, cls));
      const classGuards: unknown[] = Reflect.getMetadata(GUARDS_METADATA, cls) ?? [];
      const proto = cls.prototype as Record<string, unknown>;
      for (const name of this.scanner.getAllMethodNames(proto)) {
        const handler = proto[name] as object;
        const methodPath = Reflect.getMetadata(PATH_METADATA, handler);
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (methodPath === undefined || method === undefined) continue;
        const guards = [...classGuards, ...((Reflect.getMetadata(GUARDS_METADATA, handler) as unknown[]) ?? [])];
        const kind: RouteAuthKind | null = guards.includes(AdminKeyGuard) ? 'adminKey' : guards.includes(ApiKeyGuard) ? 'apiKey' : null;
        if (kind) this.byRoute.set(routeKey(RequestMethod[method], joinPath(base, firstPath(methodPath))), kind);
      }
    }
  }

  /** The key a route takes (`method` as HTTP spells it, `url` as Fastify registered it), or null. */
  of(method: string, url: string | undefined): RouteAuthKind | null {
    if (!url) return null;
    return this.byRoute.get(routeKey(method === 'HEAD' ? 'GET' : method, url)) ?? null;
  }
}

function routeKey(method: string, path: string): string {
  const p = path.length > 1 ? path.replace(/\/+$/, '') : path;
  return `${method.toUpperCase()} ${p}`;
}

function firstPath(p: unknown): string {
  return Array.isArray(p) ? String(p[0] ?? '') : typeof p === 'string' ? p : '';
}

function joinPath(a: string, b: string): string {
  return `/${[a, b].map((s) => s.replace(/^\/+|\/+$/g, '')).filter(Boolean).join('/')}`;
}
