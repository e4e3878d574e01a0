/**
 * Password hashing with scrypt (memory-hard, from node:crypto). The stored form names its parameters,
 * `scrypt$<log2 N>$<r>$<p>$<salt b64url>$<hash b64url>`, so they can be raised later: a hash made with
 * weaker ones still verifies, and `needsRehash` tells the caller to store a new one.
 */
import crypto from 'node:crypto';
import { z } from 'zod';

export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 200;

/** The password rule every form applies (sign-up, invite, change). */
export const PasswordSchema = z
  .string()
  .min(PASSWORD_MIN, `Use at least ${PASSWORD_MIN} characters`)
  .max(PASSWORD_MAX, `Use at most ${PASSWORD_MAX} characters`);

export interface ScryptParams {
  log2N: number;
  r: number;
  p: number;
}

/** N = 2^15, r = 8, p = 1: 32 MiB of memory per hash, tens of milliseconds on one core. Raise here; old hashes still verify. */
export const CURRENT_PARAMS: ScryptParams = { log2N: 15, r: 8, p: 1 };
const KEY_LENGTH = 32;

function scrypt(password: string, salt: Buffer, p: ScryptParams): Promise<Buffer> {
  const N = 2 ** p.log2N;
  return new Promise((resolve, reject) => {
    crypto.scrypt(
      password.normalize('NFKC'),
      salt,
      KEY_LENGTH,
      { N, r: p.r, p: p.p, maxmem: 256 * N * p.r },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

export async function hashPassword(password: string, params: ScryptParams = CURRENT_PARAMS): Promise<string> {
  const salt = crypto.randomBytes(16);
  const key = await scrypt(password, salt, params);
  return [
    'scrypt',
    params.log2N,
    params.r,
    params.p,
    salt.toString('base64url'),
    key.toString('base64url'),
  ].join('$');
}

const STORED = /^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{16,})$/;

/** A hash of nothing anyone knows, verified when the user does not exist, so both paths take as long. */
let dummy: Promise<string> | undefined;
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(crypto.randomBytes(18).toString('base64url'));
  return dummy;
}

export async function verifyPassword(
  password: string,
  stored: string,
): Promise<{ ok: boolean; needsRehash: boolean }> {
  const m = STORED.exec(stored);
  if (!m) return { ok: false, needsRehash: false };
  const params = { log2N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (params.log2N < 10 || params.log2N > 20 || params.r < 1 || params.p < 1) {
    return { ok: false, needsRehash: false };
  }
  const expected = Buffer.from(m[5]!, 'base64url');
  const key = await scrypt(password, Buffer.from(m[4]!, 'base64url'), params);
  const ok = key.length === expected.length && crypto.timingSafeEqual(key, expected);
  const weaker =
    params.log2N < CURRENT_PARAMS.log2N || params.r < CURRENT_PARAMS.r || params.p < CURRENT_PARAMS.p;
  return { ok, needsRehash: ok && weaker };
}
