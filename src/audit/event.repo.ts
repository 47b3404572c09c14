import { and, asc, desc, eq, gt, sql } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { prepared } from '../db/driver.ts'
import { type EventRow, events } from './event.sql.ts'

export async function lastEvent(db: DbOrTx, partnershipId: string): Promise<{ seq: number; hash: string } | undefined> {
  const statement = prepared(db, 'last_event', (db) =>
    db
      .select({ seq: events.seq, hash: events.hash })
      .from(events)
      .where(eq(events.partnershipId, sql.placeholder('partnershipId')))
      .orderBy(desc(events.seq))
      .limit(1)
      .prepare('last_event')
  )
  const [row] = await statement.execute({ partnershipId })
  return row
}

export async function insertEvent(db: DbOrTx, row: EventRow): Promise<void> {
  await db.insert(events).values(row)
}

export async function listEvents(
  db: DbOrTx,
  partnershipId: string,
  afterSeq: number,
  limit: number
): Promise<EventRow[]> {
  const statement = prepared(db, 'list_events', (db) =>
    db
      .select()
      .from(events)
      .where(
        and(eq(events.partnershipId, sql.placeholder('partnershipId')), gt(events.seq, sql.placeholder('afterSeq')))
      )
      .orderBy(asc(events.seq))
      .limit(sql.placeholder('limit'))
      .prepare('list_events')
  )
  return statement.execute({ partnershipId, afterSeq, limit })
}
