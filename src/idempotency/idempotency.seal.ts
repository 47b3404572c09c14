import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto'
import type { IdempotencyKeyRow } from './idempotency.sql.ts'

// How idempotency records are found, compared and sealed (the plugin that uses them: http/idempotency.ts).
// Nothing stored opens an answer or reveals a key: the digest and the fingerprint are HMACs, the answer is
// sealed with AES-256-GCM under a key only the client's Idempotency-Key derives.

/** What a record is found, sealed and compared by. */
export interface Derived {
  key: string
  seal: Buffer
  fingerprint: string
}

/**
 * Scheme 2. Two keys are drawn from the server secret, one per use, so that nothing stored derives the other:
 * the stored digest is an HMAC of the client's key under the first; the sealing key is HKDF of the client's key
 * salted with the second (HKDF's extract step is an HMAC under its salt: salted with the secret itself, it would
 * equal the stored digest). The fingerprint of the request (its canonical body and resource) is an HMAC under
 * the sealing key.
 */
export function derive(secret: Buffer, userId: string, key: string, path: string, body: string): Derived {
  const digestKey = createHmac('sha256', secret).update('accord idempotency: digest').digest()
  const sealSalt = createHmac('sha256', secret).update('accord idempotency: seal').digest()
  const seal = Buffer.from(hkdfSync('sha256', key, sealSalt, `accord idempotent response\n${userId}`, 32))
  return {
    key: createHmac('sha256', digestKey).update(key).digest('base64url'),
    seal,
    fingerprint: createHmac('sha256', seal).update(body).update('\0').update(path).digest('base64url')
  }
}

/** Scheme 1 (records made before the server secret), read only: under the client's key alone. */
export function deriveLegacy(userId: string, key: string, path: string, body: string): Derived {
  return {
    key: createHash('sha256').update(key).digest('base64url'),
    seal: Buffer.from(hkdfSync('sha256', key, userId, 'accord idempotent response', 32)),
    fingerprint: createHash('sha256').update(body).update('\0').update(path).digest('base64url')
  }
}

/**
 * A stored answer: scheme 2 seals its headers with its body, bound to its record (AAD: the record's id, so an
 * answer moved to another record of the same caller does not open); scheme 1 kept the headers beside it.
 */
export function openAnswer(prior: IdempotencyKeyRow, seal: Buffer): { headers: Record<string, string>; body: string } {
  if (prior.body === null) return { headers: prior.headers ?? {}, body: '' }
  if (prior.scheme === 1) return { headers: prior.headers ?? {}, body: openBody(seal, prior.body) }
  return JSON.parse(openBody(seal, prior.body, prior.id)) as { headers: Record<string, string>; body: string }
}

export function sealBody(key: Buffer, plain: string, aad?: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  if (aad !== undefined) cipher.setAAD(Buffer.from(aad, 'utf8'))
  const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
  return `v1.${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${data.toString('base64url')}`
}

function openBody(key: Buffer, sealed: string, aad?: string): string {
  const [, iv, tag, data] = sealed.split('.')
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv!, 'base64url'))
  if (aad !== undefined) decipher.setAAD(Buffer.from(aad, 'utf8'))
  decipher.setAuthTag(Buffer.from(tag!, 'base64url'))
  return Buffer.concat([decipher.update(Buffer.from(data!, 'base64url')), decipher.final()]).toString('utf8')
}
