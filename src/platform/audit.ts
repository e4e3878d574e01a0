/** The append-only audit log: every administrative change names who (a key id, `cli`, `dev-bootstrap`), what, when and the target. */
import type { Db } from '../db';
import { newId } from '../domain/ids';

export type AuditAction =
  | 'merchant.create'
  | 'key.create'
  | 'key.revoke'
  | 'key.rotate'
  | 'channel.create'
  | 'channel.update'
  | 'channel.disable'
  | 'channel.delete'
  | 'channel.c2b_register'
  | 'channel.c2b_update'
  | 'webhook_endpoint.create'
  | 'webhook_endpoint.update'
  | 'webhook_endpoint.delete'
  | 'webhook_endpoint.rotate_secret'
  | 'event.redeliver'
  | 'payment_link.create'
  | 'payment_link.update'
  | 'payment_link.disable'
  | 'payout.suspicious_result'
  | 'member.role'
  | 'member.remove'
  | 'payment.resolve'
  | 'payout.resolve';

export interface AuditEntry {
  actor: string;
  action: AuditAction;
  targetId: string;
  merchantId: string | null;
  /** Never secrets: names of changed fields, scopes, environments. */
  details?: Record<string, unknown>;
  requestId?: string | undefined;
}

/** Who acts: a key (over the API) or an operator on the command line. */
export interface Actor {
  actor: string;
  requestId?: string | undefined;
}

export async function appendAudit(db: Db, e: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      id: newId('audit'),
      merchant_id: e.merchantId,
      actor: e.actor,
      action: e.action,
      target_id: e.targetId,
      details: JSON.stringify(e.details ?? {}),
      request_id: e.requestId ?? null,
    })
    .execute();
}

export async function listAudit(db: Db, merchantId: string, limit = 100) {
  return db
    .selectFrom('audit_log')
    .selectAll()
    .where('merchant_id', '=', merchantId)
    .orderBy('created_at', 'desc')
    .limit(limit)
    .execute();
}
