import { runMain } from '@waybill/platform';
import { ChannelRegistryModule } from '@waybill/channel-registry';

runMain({ name: 'channel-registry', modules: [ChannelRegistryModule], defaultPort: 3001 });
