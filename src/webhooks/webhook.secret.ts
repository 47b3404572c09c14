import { randomBytes } from 'node:crypto'

/**
 * Webhook secrets at rest. The repo has no key-encryption key yet (a later issue brings `SECRET_KEY`, SPEC
 * §3.8): today a secret is stored under the scheme `plain-v0`, as it is. Every read and write goes through
 * these two functions and the row says which scheme sealed it, so moving to encryption is a new scheme here
 * and a migration that reseals the rows, nothing else.
 */
export type SecretScheme = 'plain-v0'
export interface SealedSecret {
  scheme: SecretScheme
  ciphertext: string
}

/** A new secret as Standard Webhooks writes them: `whsec_` and the base64 of 32 random bytes. */
export const newSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`

export function sealSecret(secret: string): SealedSecret {
  return { scheme: 'plain-v0', ciphertext: secret }
}

export function openSecret(sealed: { scheme: string; ciphertext: string }): string {
  if (sealed.scheme !== 'plain-v0') throw new Error(`unknown webhook secret scheme ${sealed.scheme}`)
  return sealed.ciphertext
}
