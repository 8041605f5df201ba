import { Controller, Get, HttpCode, Post, Query, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { AdminKeyGuard, ApiExclude, validate } from '@waybill/platform';
import { ProjectionRebuild } from '../../application/rebuild/projection-rebuild.service';

const RebuildQuery = z.object({ keepPrevious: z.enum(['true', 'false']).optional() }).strict();

/**
 * Operations on the read model, with the deployment's admin key. Served on the status service's
 * own port (the edge routes only the public API); `npm run projection:rebuild` drives it.
 */
@ApiExclude()
@Controller('admin/projection')
@UseGuards(AdminKeyGuard)
export class ProjectionAdminController {
  constructor(private readonly rebuild: ProjectionRebuild) {}

  /** Starts replaying the log into a fresh read model; `202` with its progress. */
  @Post('rebuild')
  @HttpCode(202)
  start(@Query() query: unknown) {
    const q = validate(RebuildQuery, query, 'query');
    return this.rebuild.start({ keepPrevious: q.keepPrevious === 'true' });
  }

  /** The progress of the last rebuild this instance ran. */
  @Get('rebuild')
  status() {
    return this.rebuild.status();
  }
}
