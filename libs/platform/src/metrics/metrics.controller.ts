import { Controller, Get, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiExclude } from '../openapi/api-doc';
import { MetricsRegistry } from './metrics.registry';

/**
 * `GET /metrics`, Prometheus text format. Not under `/v1` and not routed by the edge: it is
 * scraped from each process's own port, and names no organisation.
 */
@ApiExclude()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsRegistry) {}

  @Get()
  async scrape(@Res() reply: FastifyReply): Promise<void> {
    const { contentType, body } = await this.metrics.expose();
    void reply.header('content-type', contentType).send(body);
  }
}
