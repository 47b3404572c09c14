import { randomBytes } from 'node:crypto'
import type { Kek } from '../keys/kek.ts'

/**
 * Webhook secrets at rest. Every read and write goes through these functions, and the row says which
 * scheme sealed it: `kek-v1` is the secret sealed under the KEK (keys/kek.ts) for
 * `accord:webhook-secret:<webhook id>`, so a ciphertext moved to another webhook does not open;
 * `plain-v0` (the secret as it is) is what rows held before, sealed at start (sealPlainWebhookSecrets).
 */
export type SecretScheme = 'plain-v0' | 'kek-v1'
export interface SealedSecret {
  scheme: SecretScheme
  ciphertext: string
}

/** A new secret as Standard Webhooks writes them: `whsec_` and the base64 of 32 random bytes. */
export const newSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`

const purposeOf = (webhookId: string): string => `accord:webhook-secret:${webhookId}`

export function sealSecret(kek: Kek, webhookId: string, secret: string): SealedSecret {
  return { scheme: 'kek-v1', ciphertext: kek.seal(secret, purposeOf(webhookId)) }
}

export function openSecret(kek: Kek, webhookId: string, sealed: { scheme: string; ciphertext: string }): string {
  if (sealed.scheme === 'kek-v1') return kek.open(sealed.ciphertext, purposeOf(webhookId))
  if (sealed.scheme === 'plain-v0') return sealed.ciphertext
  throw new Error(`unknown webhook secret scheme ${sealed.scheme}`)
}
