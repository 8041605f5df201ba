import { runMain } from '@waybill/platform';
import { StatusProjectionModule } from '@waybill/status-projection';

runMain({ name: 'status-projection', modules: [StatusProjectionModule], defaultPort: 3004 });
