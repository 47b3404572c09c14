import type { Db } from '../db/client.ts'
import { transaction } from '../db/transaction.ts'
import type { Kek } from '../keys/kek.ts'
import { resealServiceKeys } from '../keys/key.service.ts'
import { resealServerSecrets } from '../keys/server-secret.service.ts'
import { resealDataKeys } from '../users/personal-text.service.ts'
import { resealWebhookSecrets } from '../webhooks/secret.service.ts'

/**
 * Every column sealed under the KEK, and who re-seals it: a new sealed column is added here, or a rotation
 * would leave it behind (test/keys/kek.test.ts checks each one opens under the new key alone).
 */
export interface Resealed {
  serviceKeys: number
  webhooks: number
  serverSecrets: number
  dataKeys: number
}

const DATA_KEY_PAGE = 500

/**
 * Rotates the key-encryption key offline: every sealed secret (the service's private keys, webhook secrets, the
 * server secrets, every person's data key) is opened with `from` and sealed with `to`, in one transaction: all
 * move or none does. A secret `from` does not open stops it with nothing changed (KekError). For a rotation
 * while the service runs, see resealSecrets.
 */
export async function rotateSecretKey(db: Db, from: Kek, to: Kek): Promise<Resealed> {
  return transaction(db, async (tx) => {
    const moved: Resealed = {
      serviceKeys: await resealServiceKeys(tx, from, to),
      webhooks: await resealWebhookSecrets(tx, from, to),
      serverSecrets: await resealServerSecrets(tx, from, to),
      dataKeys: 0
    }
    for (let after: string | null = null; ; ) {
      const page = await resealDataKeys(tx, from, to, after, DATA_KEY_PAGE)
      moved.dataKeys += page.count
      if (page.last === null) return moved
      after = page.last
    }
  })
}

/**
 * Re-seals every secret under the KEK's current key, opening with it or any SECRET_KEY_EXTRA: the third step
 * of a rotation without downtime (README, "Secrets at rest"), run while every instance already opens with both
 * keys. The few service keys, webhook and server secrets move in one transaction; the data keys in pages of
 * their own short transactions, each row replaced only if unchanged since read (a concurrent erasure wins), so
 * no request waits long. Running it again is harmless.
 */
export async function resealSecrets(db: Db, kek: Kek, onPage?: (dataKeys: number) => void): Promise<Resealed> {
  const to = kek.current
  const moved: Resealed = {
    ...(await transaction(db, async (tx) => ({
      serviceKeys: await resealServiceKeys(tx, kek, to),
      webhooks: await resealWebhookSecrets(tx, kek, to),
      serverSecrets: await resealServerSecrets(tx, kek, to)
    }))),
    dataKeys: 0
  }
  for (let after: string | null = null; ; ) {
    const page = await transaction(db, (tx) => resealDataKeys(tx, kek, to, after, DATA_KEY_PAGE))
    moved.dataKeys += page.count
    onPage?.(moved.dataKeys)
    if (page.last === null) return moved
    after = page.last
  }
}
