import { Controller, Get, Header, Param, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Problems } from '../http/problem';
import { ApiExclude } from './api-doc';
import { docsAsset, DOCS_HTML, DOCS_INIT } from './docs.page';
import { OpenApiService } from './openapi.service';

/** `/openapi.json` and the browsable `/docs`, in every process. */
@ApiExclude()
@Controller()
export class OpenApiController {
  constructor(private readonly openapi: OpenApiService) {}

  @Get('openapi.json')
  document(): Record<string, unknown> {
    return this.openapi.documentFor();
  }

  @Get('docs')
  @Header('content-type', 'text/html; charset=utf-8')
  page(): string {
    return DOCS_HTML;
  }

  @Get('docs/init.js')
  @Header('content-type', 'application/javascript; charset=utf-8')
  init(): string {
    return DOCS_INIT;
  }

  @Get('docs/:asset')
  asset(@Param('asset') name: string, @Res() reply: FastifyReply): void {
    const asset = docsAsset(name);
    if (!asset) throw Problems.notFound('Docs asset', name);
    void reply.header('content-type', asset.contentType).header('cache-control', 'public, max-age=86400').send(asset.body);
  }
}
