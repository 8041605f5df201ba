import { runMain } from '@waybill/platform';
import { standalone } from './standalone';

runMain(standalone);
