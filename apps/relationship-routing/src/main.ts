import { runMain } from '@waybill/platform';
import { RelationshipRoutingModule } from '@waybill/relationship-routing';

runMain({ name: 'relationship-routing', modules: [RelationshipRoutingModule], defaultPort: 3002 });
