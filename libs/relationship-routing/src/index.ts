export { RelationshipRoutingModule } from './lib/relationship-routing.module';
