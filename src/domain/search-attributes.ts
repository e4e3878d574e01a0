/** Malipo's custom Temporal search attributes: what an operator filters on in the Temporal UI. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const MalipoMerchantId = defineSearchAttributeKey('MalipoMerchantId', SearchAttributeType.KEYWORD);
export const MalipoStatus = defineSearchAttributeKey('MalipoStatus', SearchAttributeType.KEYWORD);
export const MalipoReference = defineSearchAttributeKey('MalipoReference', SearchAttributeType.KEYWORD);
export const MalipoChannelId = defineSearchAttributeKey('MalipoChannelId', SearchAttributeType.KEYWORD);
export const MalipoAmount = defineSearchAttributeKey('MalipoAmount', SearchAttributeType.INT);

/** name → Temporal CLI type, for `temporal server start-dev --search-attribute name=Type`. */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword' | 'Int'> = {
  MalipoMerchantId: 'Keyword',
  MalipoStatus: 'Keyword',
  MalipoReference: 'Keyword',
  MalipoChannelId: 'Keyword',
  MalipoAmount: 'Int',
};

export const SEARCH_ATTRIBUTE_KEYS = [
  MalipoMerchantId,
  MalipoStatus,
  MalipoReference,
  MalipoChannelId,
  MalipoAmount,
];
