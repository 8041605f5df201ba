import { runMain } from '@waybill/platform';
import { DispatcherModule } from '@waybill/dispatcher';

runMain({ name: 'dispatcher', modules: [DispatcherModule], defaultPort: 3003 });
