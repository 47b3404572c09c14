import { and, eq } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { type ServerSecretRow, serverSecrets } from './server-secret.sql.ts'

export async function listServerSecrets(db: DbOrTx): Promise<ServerSecretRow[]> {
  return db.select().from(serverSecrets)
}

/** Several instances starting at once: the first insert wins, the others keep nothing and read it back. */
export async function insertServerSecretIfAbsent(db: DbOrTx, row: ServerSecretRow): Promise<void> {
  await db.insert(serverSecrets).values(row).onConflictDoNothing()
}

/** Replaces a sealed value only if it is still the one read (a concurrent re-seal wins, nothing is lost). */
export async function replaceSealedServerSecret(
  db: DbOrTx,
  name: string,
  seen: string,
  sealed: string
): Promise<boolean> {
  const rows = await db
    .update(serverSecrets)
    .set({ sealed })
    .where(and(eq(serverSecrets.name, name), eq(serverSecrets.sealed, seen)))
    .returning({ name: serverSecrets.name })
  return rows.length > 0
}
