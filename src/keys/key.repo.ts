import { eq } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { serviceKeys } from './key.sql.ts'

export type ServiceKeyRow = typeof serviceKeys.$inferSelect

export async function listKeys(db: DbOrTx): Promise<ServiceKeyRow[]> {
  return db.select().from(serviceKeys).orderBy(serviceKeys.createdAt)
}

/** Inserts a key unless another instance already made the active one (the partial unique index decides). */
export async function insertKeyIfNoneActive(db: DbOrTx, row: ServiceKeyRow): Promise<void> {
  await db.insert(serviceKeys).values(row).onConflictDoNothing()
}

export async function findActiveKey(db: DbOrTx): Promise<ServiceKeyRow | undefined> {
  const [row] = await db.select().from(serviceKeys).where(eq(serviceKeys.status, 'active')).limit(1)
  return row
}

/** Retires the active key (it stays published for verification); returns how many rows changed (0 or 1). */
export async function retireActiveKey(db: DbOrTx): Promise<number> {
  const rows = await db
    .update(serviceKeys)
    .set({ status: 'retired' })
    .where(eq(serviceKeys.status, 'active'))
    .returning({ kid: serviceKeys.kid })
  return rows.length
}

/** Every key, locked until the transaction ends (sealing and rotation rewrite them). */
export async function lockAllKeys(db: DbOrTx): Promise<ServiceKeyRow[]> {
  return db.select().from(serviceKeys).orderBy(serviceKeys.createdAt).for('update')
}

export async function updatePrivateJwk(db: DbOrTx, kid: string, privateJwk: Record<string, unknown>): Promise<void> {
  await db.update(serviceKeys).set({ privateJwk }).where(eq(serviceKeys.kid, kid))
}
