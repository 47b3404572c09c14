import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/**
 * Envelope sealing with AES-256-GCM, pure: `v1.` then base64url(nonce ‖ ciphertext ‖ tag), a random 12-byte
 * nonce per seal. The AAD (`purpose`) binds a sealed value to what it is and the row it belongs to
 * (`accord:webhook-secret:<id>`): a ciphertext copied to another row or column does not open. The version
 * prefix lets a later format (or key) live beside this one.
 */
const VERSION = 'v1'
const NONCE_BYTES = 12
const TAG_BYTES = 16
export const KEY_BYTES = 32

/** A sealed value that does not open under this key and purpose (wrong key, another row, altered, malformed). */
export class SealOpenError extends Error {
  override name = 'SealOpenError'
}

export function isSealed(value: string): boolean {
  return value.startsWith(`${VERSION}.`)
}

export function seal(key: Uint8Array, plaintext: string, purpose: string): string {
  if (key.length !== KEY_BYTES) throw new Error(`a sealing key is ${KEY_BYTES} bytes`)
  const nonce = randomBytes(NONCE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, nonce)
  cipher.setAAD(Buffer.from(purpose, 'utf8'))
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return `${VERSION}.${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url')}`
}

export function open(key: Uint8Array, sealed: string, purpose: string): string {
  if (!isSealed(sealed)) throw new SealOpenError(`not a sealed value of version ${VERSION}`)
  const raw = Buffer.from(sealed.slice(VERSION.length + 1), 'base64url')
  if (raw.length < NONCE_BYTES + TAG_BYTES) throw new SealOpenError('sealed value too short')
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, NONCE_BYTES))
    decipher.setAAD(Buffer.from(purpose, 'utf8'))
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES))
    return Buffer.concat([
      decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)),
      decipher.final()
    ]).toString('utf8')
  } catch {
    throw new SealOpenError(`does not open under this key as ${purpose}`)
  }
}
