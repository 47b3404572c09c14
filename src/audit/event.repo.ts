import { and, asc, desc, eq, gt } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { type EventRow, events } from './event.sql.ts'

export async function lastEvent (db: DbOrTx, partnershipId: string): Promise<{ seq: number, hash: string } | undefined> {
  const [row] = await db.select({ seq: events.seq, hash: events.hash }).from(events)
    .where(eq(events.partnershipId, partnershipId)).orderBy(desc(events.seq)).limit(1)
  return row
}

export async function insertEvent (db: DbOrTx, row: EventRow): Promise<void> {
  await db.insert(events).values(row)
}

export async function listEvents (db: DbOrTx, partnershipId: string, afterSeq: number, limit: number): Promise<EventRow[]> {
  return db.select().from(events).where(and(eq(events.partnershipId, partnershipId), gt(events.seq, afterSeq)))
    .orderBy(asc(events.seq)).limit(limit)
}
