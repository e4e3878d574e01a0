/** The dashboard's cookie, CSRF and origin rules, and a session's AuthContext (the role's scopes). */
import crypto from 'node:crypto';
import type { Request } from 'express';
import { scopesOf } from '../accounts/roles';
import type { Session } from '../accounts/sessions';
import type { AuthContext } from '../platform/scopes';

export const SESSION_COOKIE = 'malipo_session';
/** The signed-out forms' CSRF token (double submit: cookie and `_csrf` field must match). */
export const PRE_SESSION_COOKIE = 'malipo_csrf';

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    if (!(k in out)) out[k] = part.slice(i + 1).trim();
  }
  return out;
}

export const firstValues = (o: unknown): Record<string, string> => {
  const out: Record<string, string> = {};
  if (!o || typeof o !== 'object') return out;
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    const first = Array.isArray(v) ? v[0] : v;
    if (typeof first === 'string') out[k] = first;
  }
  return out;
};

/** Constant-time equality of two strings (compared as SHA-256 digests, so lengths leak nothing). */
export function safeEqual(a: string, b: string): boolean {
  const h = (s: string) => crypto.createHash('sha256').update(s).digest();
  return crypto.timingSafeEqual(h(a), h(b)) && a.length > 0;
}

/** A POST from a page of this origin: Origin (or, without it, Referer) names this host or the public URL. */
export function sameOrigin(req: Request, publicUrl: string): boolean {
  const allowed = new Set([new URL(publicUrl).origin]);
  const host = req.get('host');
  if (host) {
    allowed.add(`http://${host}`);
    allowed.add(`https://${host}`);
  }
  const origin = req.get('origin');
  if (origin !== undefined) return allowed.has(origin);
  const referer = req.get('referer');
  if (!referer) return false;
  try {
    return allowed.has(new URL(referer).origin);
  } catch {
    return false;
  }
}

/** Only our own pages after sign-in: `/dashboard/…`, never `//evil` or a full URL. */
export function safeNext(next: string | undefined): string {
  return next && /^\/dashboard(\/[A-Za-z0-9/_\-.?=&%]*)?$/.test(next) && !next.startsWith('//')
    ? next
    : '/dashboard/overview';
}

export function authContextOf(s: Session): AuthContext {
  return { merchantId: s.merchantId, keyId: s.userId, environment: s.environment, scopes: scopesOf(s.role) };
}
