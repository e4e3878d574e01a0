/** Workflow-side search attributes shared by the money workflows (`stkPush`, `b2cPayout`). */
import { upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import {
  MalipoAmount,
  MalipoChannelId,
  MalipoMerchantId,
  MalipoReference,
  MalipoStatus,
} from '../src/domain/search-attributes';

/** The API sets these at start (free); a workflow started without them sets them itself. */
export function ensureSearchAttributes(input: {
  merchantId: string;
  channelId: string;
  reference: string;
  amount: number;
}): void {
  if (workflowInfo().typedSearchAttributes.get(MalipoStatus) !== undefined) return;
  upsertSearchAttributes([
    { key: MalipoStatus, value: 'pending' },
    { key: MalipoMerchantId, value: input.merchantId },
    { key: MalipoChannelId, value: input.channelId },
    { key: MalipoReference, value: input.reference },
    { key: MalipoAmount, value: input.amount },
  ]);
}
