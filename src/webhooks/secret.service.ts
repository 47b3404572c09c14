import type { Db, DbOrTx } from '../db/client.ts'
import { transaction } from '../db/transaction.ts'
import type { Kek } from '../keys/kek.ts'
import * as repo from './webhook.repo.ts'
import { openSecret, sealSecret } from './webhook.secret.ts'

/**
 * Seals every webhook secret still stored as `plain-v0` (written before sealing existed), in one
 * transaction at start, so that after a start no dump of the database holds one. Returns how many.
 */
export async function sealPlainWebhookSecrets(db: Db, kek: Kek): Promise<number> {
  return transaction(db, async (tx) => {
    const rows = await repo.lockSecrets(tx, 'plain-v0')
    for (const row of rows) {
      const sealed = sealSecret(kek, row.id, row.secretCiphertext)
      await repo.updateSecret(tx, row.id, { secretScheme: sealed.scheme, secretCiphertext: sealed.ciphertext })
    }
    return rows.length
  })
}

/**
 * Re-seals every webhook secret from one KEK to another inside the caller's transaction (a rotation of
 * SECRET_KEY); one the old KEK does not open throws (SealOpenError) before anything is committed.
 */
export async function resealWebhookSecrets(tx: DbOrTx, from: Kek, to: Kek): Promise<number> {
  const rows = await repo.lockSecrets(tx)
  for (const row of rows) {
    const secret = openSecret(from, row.id, { scheme: row.secretScheme, ciphertext: row.secretCiphertext })
    const sealed = sealSecret(to, row.id, secret)
    await repo.updateSecret(tx, row.id, { secretScheme: sealed.scheme, secretCiphertext: sealed.ciphertext })
  }
  return rows.length
}
