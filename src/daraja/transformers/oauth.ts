/** OAuth: the token response. */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// OAuth

/** `expires_in` has been seen as `"3599"` and `3599` (daraja.md §2); a missing one is taken as 3599. */
export const OAuthResponseSchema = z.object({
  access_token: z.string().min(1),
  expires_in: z
    .union([z.number(), z.string()])
    .optional()
    .transform((v) => {
      const n = Number(v);
      return v === undefined || !Number.isFinite(n) || n <= 0 ? 3599 : n;
    }),
});
export type OAuthToken = { accessToken: string; expiresInSeconds: number };
export function parseOAuthResponse(body: unknown): OAuthToken | undefined {
  const r = OAuthResponseSchema.safeParse(body);
  return r.success ? { accessToken: r.data.access_token, expiresInSeconds: r.data.expires_in } : undefined;
}
