/** Dashboard roles and the API scopes each grants, so a session is checked by the same rule as an API key. */
import { SCOPES, type Scope } from '../platform/scopes';
import type { Role } from '../db/tables/accounts';

export type { Role } from '../db/tables/accounts';
export const ROLES = ['owner', 'developer', 'viewer'] as const satisfies readonly Role[];

/** Read-only scopes: what a viewer holds. */
export const VIEWER_SCOPES: readonly Scope[] = [
  'payments:read',
  'payouts:read',
  'reversals:read',
  'channels:read',
];

/**
 * `owner`: `*` (everything, and the team); `developer`: every API scope (keys, channels, webhooks, links,
 * payments, payouts) but not the team; `viewer`: the read scopes only.
 */
export function scopesOf(role: Role): string[] {
  switch (role) {
    case 'owner':
      return ['*'];
    case 'developer':
      return SCOPES.filter((s) => s !== '*');
    case 'viewer':
      return [...VIEWER_SCOPES];
  }
}

/** Team management (inviting and removing people) is the owner's alone; it is not an API scope. */
export function canManageTeam(role: Role): boolean {
  return role === 'owner';
}

export function isRole(v: string): v is Role {
  return (ROLES as readonly string[]).includes(v);
}
