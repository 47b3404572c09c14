import { randomBytes } from 'node:crypto'
import type { Db, DbOrTx } from '../db/client.ts'
import { KEY_BYTES, SealOpenError } from '../lib/seal.ts'
import { type Kek, KekError } from './kek.ts'
import { insertServerSecretIfAbsent, listServerSecrets, replaceSealedServerSecret } from './server-secret.repo.ts'

/**
 * The service's symmetric secrets, 32 bytes each, the same on every instance (they live in the database, sealed
 * under the KEK): what a database dump alone must not be able to recompute.
 * - `idempotency`: keys the stored Idempotency-Key digests and, with the client's key, seals the stored
 *   responses (http/idempotency.ts), so neither a dump alone nor a dump plus a guessed client key opens them;
 * - `identity`: keys the digest of an erased identity (users/user.service.ts), so a dump plus a guessed
 *   (iss, sub) cannot confirm that this person was erased;
 * - `audit`: keys the MAC of each block of the audit log found intact (audit/chain.service.ts), so that a
 *   later verification may trust a block whose stored rows are unchanged without recomputing it, and
 *   nobody who can write the database can make it trust rows they changed.
 */
export interface ServerSecrets {
  readonly idempotency: Buffer
  readonly identity: Buffer
  readonly audit: Buffer
}

const NAMES = ['idempotency', 'identity', 'audit'] as const satisfies readonly (keyof ServerSecrets)[]
const purposeOf = (name: string) => `accord:server-secret:${name}`

/** Loads the secrets, making the missing ones; a KEK that does not open them throws SealOpenError (no start). */
export async function loadServerSecrets(db: Db, kek: Kek, now: () => Date): Promise<ServerSecrets> {
  let rows = await listServerSecrets(db)
  const missing = NAMES.filter((n) => !rows.some((r) => r.name === n))
  if (missing.length > 0) {
    for (const name of missing)
      await insertServerSecretIfAbsent(db, {
        name,
        sealed: kek.seal(randomBytes(KEY_BYTES).toString('base64'), purposeOf(name)),
        createdAt: now()
      })
    rows = await listServerSecrets(db)
  }
  const open = (name: (typeof NAMES)[number]) => {
    const row = rows.find((r) => r.name === name)
    if (!row) throw new Error(`server secret ${name} missing after creating it`)
    return Buffer.from(openSecret(kek, row), 'base64')
  }
  return { idempotency: open('idempotency'), identity: open('identity'), audit: open('audit') }
}

/** Re-seals every server secret from `from` to `to` (the value stays, so what it keys stays valid). */
export async function resealServerSecrets(tx: DbOrTx, from: Kek, to: Kek): Promise<number> {
  let moved = 0
  for (const row of await listServerSecrets(tx)) {
    const value = openSecret(from, row)
    if (await replaceSealedServerSecret(tx, row.name, row.sealed, to.seal(value, purposeOf(row.name)))) moved++
  }
  return moved
}

/** A stored secret opened; a KEK that does not open it is a KekError (the process must not start). */
function openSecret(kek: Kek, row: { name: string; sealed: string }): string {
  try {
    return kek.open(row.sealed, purposeOf(row.name))
  } catch (err) {
    if (!(err instanceof SealOpenError)) throw err
    throw new KekError(
      `server secret ${row.name} does not open with the ${kek.source} (nor SECRET_KEY_EXTRA): is it the key this database was sealed with?`
    )
  }
}
