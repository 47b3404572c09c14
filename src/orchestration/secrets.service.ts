import type { Db } from '../db/client.ts'
import { transaction } from '../db/transaction.ts'
import type { Kek } from '../keys/kek.ts'
import { resealServiceKeys } from '../keys/key.service.ts'
import { resealWebhookSecrets } from '../webhooks/secret.service.ts'

/**
 * Rotates the key-encryption key: every sealed secret (the service's private keys, webhook secrets) is
 * opened with `from` and sealed with `to`, in one transaction: all move or none does. A secret `from`
 * does not open stops it with nothing changed. Running instances keep the KEK they started with: they
 * must be restarted with the new one (README, "Secrets at rest").
 */
export async function rotateSecretKey(db: Db, from: Kek, to: Kek): Promise<{ serviceKeys: number; webhooks: number }> {
  return transaction(db, async (tx) => ({
    serviceKeys: await resealServiceKeys(tx, from, to),
    webhooks: await resealWebhookSecrets(tx, from, to)
  }))
}
