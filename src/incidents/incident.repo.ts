import { and, asc, eq, gt } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { type AppreciationRow, appreciations, type IncidentRow, incidents } from './incident.sql.ts'

export async function insertIncident(db: DbOrTx, row: typeof incidents.$inferInsert): Promise<IncidentRow> {
  const [created] = await db.insert(incidents).values(row).returning()
  return created!
}

export async function findIncident(
  db: DbOrTx,
  agreementId: string,
  id: string,
  lock = false
): Promise<IncidentRow | undefined> {
  const q = db
    .select()
    .from(incidents)
    .where(and(eq(incidents.agreementId, agreementId), eq(incidents.id, id)))
    .limit(1)
  const [row] = lock ? await q.for('update') : await q
  return row
}

export async function updateIncident(
  db: DbOrTx,
  id: string,
  patch: Partial<Omit<IncidentRow, 'id'>>
): Promise<IncidentRow> {
  const [row] = await db.update(incidents).set(patch).where(eq(incidents.id, id)).returning()
  return row!
}

export async function listIncidents(
  db: DbOrTx,
  agreementId: string,
  filter: { status?: string | undefined; clauseKey?: string | undefined },
  afterId: string | null,
  limit: number
): Promise<IncidentRow[]> {
  return db
    .select()
    .from(incidents)
    .where(
      and(
        eq(incidents.agreementId, agreementId),
        filter.status === undefined ? undefined : eq(incidents.status, filter.status),
        filter.clauseKey === undefined ? undefined : eq(incidents.clauseKey, filter.clauseKey),
        afterId ? gt(incidents.id, afterId) : undefined
      )
    )
    .orderBy(asc(incidents.id))
    .limit(limit)
}

export async function insertAppreciation(db: DbOrTx, row: typeof appreciations.$inferInsert): Promise<AppreciationRow> {
  const [created] = await db.insert(appreciations).values(row).returning()
  return created!
}

export async function listAppreciations(
  db: DbOrTx,
  agreementId: string,
  afterId: string | null,
  limit: number
): Promise<AppreciationRow[]> {
  return db
    .select()
    .from(appreciations)
    .where(and(eq(appreciations.agreementId, agreementId), afterId ? gt(appreciations.id, afterId) : undefined))
    .orderBy(asc(appreciations.id))
    .limit(limit)
}

export async function findAppreciation(
  db: DbOrTx,
  agreementId: string,
  id: string
): Promise<AppreciationRow | undefined> {
  const [row] = await db
    .select()
    .from(appreciations)
    .where(and(eq(appreciations.agreementId, agreementId), eq(appreciations.id, id)))
    .limit(1)
  return row
}
