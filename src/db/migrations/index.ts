/** Versioned migrations, applied in name order. Add a file and list it here; never edit an applied one. */
import type { Migration } from 'kysely';
import * as m001 from './001_foundation';
import * as m002 from './002_platform';
import * as m003 from './003_payments';
import * as m004 from './004_webhooks';
import * as m005 from './005_payment_links';
import * as m006 from './006_payouts_c2b';
import * as m007 from './007_accounts';
import * as m008 from './008_c2b_per_channel';
import * as m009 from './009_link_slots';
import * as m010 from './010_reconciliation';
import * as m011 from './011_reversals';
import * as m012 from './012_stk_push_answers';
import * as m014 from './014_payment_list_indexes';
import * as m015 from './015_payment_phone_index';

export const migrations: Record<string, Migration> = {
  '001_foundation': m001,
  '002_platform': m002,
  '003_payments': m003,
  '004_webhooks': m004,
  '005_payment_links': m005,
  '006_payouts_c2b': m006,
  '007_accounts': m007,
  '008_c2b_per_channel': m008,
  '009_link_slots': m009,
  '010_reconciliation': m010,
  '011_reversals': m011,
  '012_stk_push_answers': m012,
  '014_payment_list_indexes': m014,
  '015_payment_phone_index': m015,
};
