import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startWaybillInProcess, Waybill } from './__fixtures__/waybill';

/**
 * The console's typed client is generated from a committed snapshot of `/openapi.json`
 * (apps/console/src/api/openapi.json → schema.d.ts). This keeps the snapshot equal to what the
 * standalone app serves, so a contract change fails the build here instead of the console in a
 * user's browser. Refresh both with `npm run console:openapi` (see README).
 */
const SNAPSHOT = path.resolve(__dirname, '../../console/src/api/openapi.json');

describe('the console’s OpenAPI snapshot', () => {
  let waybill: Waybill;

  beforeAll(async () => {
    waybill = await startWaybillInProcess();
  });

  afterAll(async () => {
    await waybill?.stop();
  });

  it('equals the /openapi.json the standalone app serves', async () => {
    const served = (await waybill.anonymous.get('/openapi.json')).body;
    if (process.env.UPDATE_OPENAPI_SNAPSHOT === '1') writeFileSync(SNAPSHOT, `${JSON.stringify(served, null, 2)}\n`);
    const snapshot = JSON.parse(readFileSync(SNAPSHOT, 'utf8'));
    expect(served).toEqual(snapshot);
  });
});
