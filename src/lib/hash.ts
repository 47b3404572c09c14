import { createHash } from 'node:crypto'
import canonicalize from 'canonicalize'

/** `sha256:` + hex SHA-256 of the RFC 8785 (JCS) canonical JSON of a value: the hash format of events and versions. */
export function jcsHash(value: unknown): string {
  const canonical = canonicalize(value)
  if (canonical === undefined) throw new TypeError('value cannot be canonicalized')
  return `sha256:${createHash('sha256').update(canonical, 'utf8').digest('hex')}`
}

/** Hex SHA-256 of a secret (invitation and calendar tokens are stored only this way). */
export const secretHash = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex')
