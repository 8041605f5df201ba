export { CreateChannelInput, UpdateChannelInput } from '../../domain/channel.input';
export { CreateOrganization } from './organizations.controller';
export { SetChannelSetting } from './registry.schemas';
