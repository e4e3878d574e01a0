import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DarajaInputError } from '../../src/daraja/errors';
import {
  decryptSecurityCredential,
  SIMULATOR_CERT_PATH,
  SIMULATOR_KEY_PATH,
  securityCredential,
} from '../../src/daraja/security-credential';
import {
  AsyncAckSchema,
  buildAccountBalancePayload,
  buildB2cPayload,
  buildC2bRegisterPayload,
  buildQrPayload,
  buildStkPushPayload,
  buildStkQueryPayload,
  buildTransactionStatusPayload,
  C2bRegisterResponseSchema,
  c2bValidationReply,
  parseC2bNotification,
  parseOAuthResponse,
  QrResponseSchema,
  StkQueryResponseSchema,
  toAsyncAck,
  toC2bRegisterAck,
  toQrResult,
  toStkQueryResult,
} from '../../src/daraja/transformers';

const PK = 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919';
const AT = new Date(Date.UTC(2024, 0, 1, 9, 0, 0));
const base = {
  shortcode: '174379',
  passkey: PK,
  type: 'paybill' as const,
  amount: 10,
  phone: '0708374149',
  callbackUrl: 'https://pay.example.com/hooks/stk/9f2c',
  accountReference: 'INV0042',
  description: 'Order 42',
};

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof DarajaInputError);
    assert.equal(err.retryable, false);
    return (err.details as Array<{ path: string }>).map((i) => i.path);
  }
  assert.fail('expected a DarajaInputError');
}

describe('STK push payload', () => {
  it('builds the documented paybill example (daraja.md §3.1)', () => {
    assert.deepEqual(buildStkPushPayload(base, AT), {
      BusinessShortCode: 174379,
      Password:
        'MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjQwMTAxMTIwMDAw',
      Timestamp: '20240101120000',
      TransactionType: 'CustomerPayBillOnline',
      Amount: 10,
      PartyA: 254708374149,
      PartyB: 174379,
      PhoneNumber: 254708374149,
      CallBackURL: 'https://pay.example.com/hooks/stk/9f2c',
      AccountReference: 'INV0042',
      TransactionDesc: 'Order 42',
    });
  });

  it('till: BusinessShortCode is the store, PartyB the till, CustomerBuyGoodsOnline', () => {
    const p = buildStkPushPayload({ ...base, type: 'till', tillNumber: '174380' }, AT);
    assert.equal(p.TransactionType, 'CustomerBuyGoodsOnline');
    assert.equal(p.BusinessShortCode, 174379);
    assert.equal(p.PartyB, 174380);
    assert.deepEqual(
      issuesOf(() => buildStkPushPayload({ ...base, type: 'till' }, AT)),
      ['tillNumber'],
    );
  });

  it('checks amount, phone, URL and text fields before sending', () => {
    assert.deepEqual(
      issuesOf(() => buildStkPushPayload({ ...base, amount: 10.5 }, AT)),
      ['amount'],
    );
    assert.deepEqual(
      issuesOf(() => buildStkPushPayload({ ...base, amount: 0 }, AT)),
      ['amount'],
    );
    assert.deepEqual(
      issuesOf(() => buildStkPushPayload({ ...base, amount: 250_001 }, AT)),
      ['amount'],
    );
    assert.deepEqual(
      issuesOf(() => buildStkPushPayload({ ...base, phone: '0208374149' }, AT)),
      ['phone'],
    );
    assert.deepEqual(
      issuesOf(() => buildStkPushPayload({ ...base, callbackUrl: 'https://x.y/a b' }, AT)),
      ['callbackUrl'],
    );
    assert.deepEqual(
      issuesOf(() => buildStkPushPayload({ ...base, callbackUrl: 'ftp://x.y/' }, AT)),
      ['callbackUrl'],
    );
    assert.deepEqual(
      issuesOf(() => buildStkPushPayload({ ...base, accountReference: 'ABCDEFGHIJKLM' }, AT)),
      ['accountReference'],
    );
    assert.deepEqual(
      issuesOf(() => buildStkPushPayload({ ...base, accountReference: '' }, AT)),
      ['accountReference'],
    );
    assert.deepEqual(
      issuesOf(() => buildStkPushPayload({ ...base, accountReference: 'INV#42' }, AT)),
      ['accountReference'],
    );
    assert.deepEqual(
      issuesOf(() => buildStkPushPayload({ ...base, description: '' }, AT)),
      ['description'],
    );
    assert.deepEqual(
      issuesOf(() => buildStkPushPayload({ ...base, description: '12345678901234' }, AT)),
      ['description'],
    );
    assert.deepEqual(
      issuesOf(() => buildStkPushPayload({ ...base, description: 'a&b' }, AT)),
      ['description'],
    );
    assert.deepEqual(
      issuesOf(() => buildStkPushPayload({ ...base, description: '   ' }, AT)),
      ['description'],
    );
    // limits are inclusive
    const ok = buildStkPushPayload(
      { ...base, accountReference: 'ABCDEFGHIJKL', description: 'A-b_c.d 12345' },
      AT,
    );
    assert.equal(ok.AccountReference.length, 12);
    assert.equal(ok.TransactionDesc.length, 13);
    // several problems are listed together
    assert.deepEqual(
      issuesOf(() => buildStkPushPayload({ ...base, amount: -1, shortcode: '12' }, AT)).sort(),
      ['amount', 'shortcode'],
    );
  });
});

describe('STK query payload and answer', () => {
  it('builds a fresh password pair', () => {
    const p = buildStkQueryPayload(
      { shortcode: '174379', passkey: PK, checkoutRequestId: 'ws_CO_01012024120001123708374149' },
      AT,
    );
    assert.equal(p.Timestamp, '20240101120000');
    assert.equal(p.BusinessShortCode, 174379);
    assert.equal(p.CheckoutRequestID, 'ws_CO_01012024120001123708374149');
  });
  it('maps a final answer, with string ResultCode and [STK_CB - ] prefix', () => {
    const r = toStkQueryResult(
      StkQueryResponseSchema.parse({
        ResponseCode: '0',
        ResponseDescription: 'The service request has been accepted successsfully',
        MerchantRequestID: 'm',
        CheckoutRequestID: 'ws_CO_1',
        ResultCode: '1032',
        ResultDesc: '[STK_CB - ]Request cancelled by user',
      }),
    );
    assert.equal(r.status, 'final');
    assert.ok(r.status === 'final');
    assert.equal(r.resultCode, '1032');
    assert.equal(r.resultDesc, 'Request cancelled by user');
    assert.equal(r.outcome.kind === 'failed' && r.outcome.reason, 'cancelled');
  });
});

describe('OAuth answer', () => {
  it('parses expires_in as a string or a number', () => {
    assert.deepEqual(parseOAuthResponse({ access_token: 'abc', expires_in: '3599' }), {
      accessToken: 'abc',
      expiresInSeconds: 3599,
    });
    assert.deepEqual(parseOAuthResponse({ access_token: 'abc', expires_in: 3599 }), {
      accessToken: 'abc',
      expiresInSeconds: 3599,
    });
    assert.equal(parseOAuthResponse({ access_token: 'abc' })?.expiresInSeconds, 3599);
    assert.equal(parseOAuthResponse({ expires_in: '3599' }), undefined);
    assert.equal(parseOAuthResponse('nope'), undefined);
  });
});

describe('async API builders', () => {
  it('B2C v3 with the Occassion spelling and numeric parties', () => {
    const p = buildB2cPayload({
      originatorConversationId: 'po_123',
      initiatorName: 'testapi',
      securityCredential: 'abc',
      command: 'BusinessPayment',
      amount: 100,
      shortcode: '600000',
      phone: '254708374149',
      remarks: 'Refund 42',
      resultUrl: 'https://h.example/result',
      queueTimeoutUrl: 'https://h.example/timeout',
      occasion: 'June',
    });
    assert.equal(p.OriginatorConversationID, 'po_123');
    assert.equal(p.PartyA, 600000);
    assert.equal(p.PartyB, 254708374149);
    assert.equal(p.Occassion, 'June');
    assert.equal('Occasion' in p, false);
    assert.deepEqual(
      issuesOf(() =>
        buildB2cPayload({
          ...p,
          originatorConversationId: '',
          initiatorName: 'x',
          securityCredential: 'y',
          command: 'BusinessPayment',
          amount: 1.5,
          shortcode: '600000',
          phone: '254708374149',
          remarks: 'x',
          resultUrl: 'https://a.b',
          queueTimeoutUrl: 'https://a.b',
        }),
      ).sort(),
      ['amount', 'originatorConversationId', 'remarks'],
    );
  });

  it('Transaction Status, Account Balance', () => {
    const s = buildTransactionStatusPayload({
      initiatorName: 'testapi',
      securityCredential: 'c',
      transactionId: 'SA12BCD3EF',
      partyA: '174379',
      identifierType: 'shortcode',
      resultUrl: 'https://h.example/r',
      queueTimeoutUrl: 'https://h.example/t',
      remarks: 'check',
    });
    assert.equal(s.CommandID, 'TransactionStatusQuery');
    assert.equal(s.IdentifierType, '4');
    assert.equal(s.TransactionID, 'SA12BCD3EF');
    assert.deepEqual(
      issuesOf(() =>
        buildTransactionStatusPayload({
          ...s,
          initiatorName: 'a',
          securityCredential: 'b',
          partyA: '174379',
          identifierType: 'msisdn',
          resultUrl: 'https://a.b',
          queueTimeoutUrl: 'https://a.b',
          remarks: 'ok',
          transactionId: undefined,
        }),
      ),
      ['transactionId'],
    );
    const b = buildAccountBalancePayload({
      initiatorName: 'testapi',
      securityCredential: 'c',
      shortcode: '600000',
      resultUrl: 'https://h.example/r',
      queueTimeoutUrl: 'https://h.example/t',
      remarks: 'balance',
    });
    assert.equal(b.CommandID, 'AccountBalance');
    assert.equal(b.IdentifierType, '4');
    assert.equal(b.PartyA, 600000);
    const ack = toAsyncAck(
      AsyncAckSchema.parse({
        OriginatorConversationID: 'o',
        ConversationID: 'AG_1',
        ResponseCode: '0',
        ResponseDescription: 'Accept the service request successfully.',
      }),
    );
    assert.deepEqual(ack, {
      originatorConversationId: 'o',
      conversationId: 'AG_1',
      responseCode: '0',
      responseDescription: 'Accept the service request successfully.',
    });
  });

  it('C2B register v2: sentence-case ResponseType, forbidden URL words, the OriginatorCoversationID typo', () => {
    const p = buildC2bRegisterPayload({
      shortcode: '600984',
      defaultAction: 'complete',
      confirmationUrl: 'https://h.example/c2b/confirm',
      validationUrl: 'https://h.example/c2b/validate',
    });
    assert.deepEqual(p, {
      ShortCode: '600984',
      ResponseType: 'Completed',
      ConfirmationURL: 'https://h.example/c2b/confirm',
      ValidationURL: 'https://h.example/c2b/validate',
    });
    assert.deepEqual(
      issuesOf(() =>
        buildC2bRegisterPayload({
          shortcode: '600984',
          defaultAction: 'cancel',
          confirmationUrl: 'https://h.example/mpesa/confirm',
          validationUrl: 'https://h.example/v',
        }),
      ),
      ['confirmationUrl'],
    );
    assert.equal(
      toC2bRegisterAck(
        C2bRegisterResponseSchema.parse({
          OriginatorCoversationID: 'x1',
          ResponseCode: '0',
          ResponseDescription: 'Success',
        }),
      ).originatorConversationId,
      'x1',
    );
  });

  it('C2B notification parsing and replies', () => {
    const r = parseC2bNotification({
      TransactionType: 'Pay Bill',
      TransID: 'SA15XYZ123',
      TransTime: '20240101153012',
      TransAmount: '250.00',
      BusinessShortCode: '600984',
      BillRefNumber: 'INV0042',
      InvoiceNumber: '',
      OrgAccountBalance: '',
      ThirdPartyTransID: '',
      MSISDN: '2547 ***** 149',
      FirstName: 'JANE',
      MiddleName: '',
      LastName: '',
    });
    assert.ok(r.ok);
    assert.equal(r.value.amount, 250);
    assert.equal(r.value.transactionId, 'SA15XYZ123');
    assert.equal(r.value.msisdn, '2547 ***** 149');
    assert.equal(r.value.orgAccountBalance, '');
    const num = parseC2bNotification({
      TransID: 'X',
      TransAmount: 5,
      BusinessShortCode: 600984,
      MiddleName: null,
    });
    assert.ok(num.ok);
    assert.equal(num.value.shortcode, '600984');
    assert.equal(parseC2bNotification({ TransAmount: '1' }).ok, false);
    assert.equal(parseC2bNotification({ TransID: 'X', TransAmount: 'abc' }).ok, false);
    assert.deepEqual(c2bValidationReply({ accept: true }), { ResultCode: '0', ResultDesc: 'Accepted' });
    assert.deepEqual(c2bValidationReply({ accept: false, reason: 'invalid_account' }), {
      ResultCode: 'C2B00012',
      ResultDesc: 'Rejected',
    });
  });

  it('Dynamic QR', () => {
    const p = buildQrPayload({
      merchantName: 'Mama Mboga',
      refNo: 'INV42',
      amount: 50,
      kind: 'buy_goods',
      creditParty: '174380',
    });
    assert.deepEqual(p, {
      MerchantName: 'Mama Mboga',
      RefNo: 'INV42',
      Amount: 50,
      TrxCode: 'BG',
      CPI: '174380',
      Size: '300',
    });
    assert.deepEqual(
      issuesOf(() =>
        buildQrPayload({
          merchantName: 'x',
          refNo: 'r',
          amount: 1,
          kind: 'paybill',
          creditParty: 'abc',
          size: 5,
        }),
      ).sort(),
      ['creditParty', 'size'],
    );
    const q = toQrResult(
      QrResponseSchema.parse({
        ResponseCode: '00',
        RequestID: 'r1',
        ResponseDescription: 'QR Code Successfully Generated.',
        QRCode: 'iVBOR',
      }),
    );
    assert.equal(q.qrCodePngBase64, 'iVBOR');
  });
});

describe('SecurityCredential', () => {
  it('round-trips with the shipped simulator key pair; output is randomised and 344 chars', () => {
    const a = securityCredential('Safaricom999!*!', SIMULATOR_CERT_PATH);
    const b = securityCredential('Safaricom999!*!', { pem: readFileSync(SIMULATOR_CERT_PATH, 'utf8') });
    assert.equal(a.length, 344);
    assert.match(a, /^[A-Za-z0-9+/]+=*$/);
    assert.notEqual(a, b);
    const key = readFileSync(SIMULATOR_KEY_PATH, 'utf8');
    assert.equal(decryptSecurityCredential(a, key), 'Safaricom999!*!');
    assert.equal(decryptSecurityCredential(b, key), 'Safaricom999!*!');
    assert.equal(decryptSecurityCredential(securityCredential('x', { path: SIMULATOR_CERT_PATH }), key), 'x');
  });
  it('reads a DER certificate too', () => {
    const pem = readFileSync(SIMULATOR_CERT_PATH, 'utf8');
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const c = securityCredential('pw', der);
    assert.equal(decryptSecurityCredential(c, readFileSync(SIMULATOR_KEY_PATH, 'utf8')), 'pw');
  });
  it('garbage does not decrypt', () => {
    assert.throws(() =>
      decryptSecurityCredential(
        Buffer.alloc(256, 7).toString('base64'),
        readFileSync(SIMULATOR_KEY_PATH, 'utf8'),
      ),
    );
  });
});
