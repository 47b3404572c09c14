import { and, asc, desc, eq, gt, inArray, sql } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { prepared } from '../db/driver.ts'
import { eventsAppended } from '../db/wakeups.ts'
import { partnerships } from '../partnerships/partnership.sql.ts'
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
  eventsAppended(db, row.partnershipId)
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

/** The head seq of each partnership's log (0 when empty): one backward index probe each. */
export async function headSeqs(db: DbOrTx, partnershipIds: readonly string[]): Promise<Map<string, number>> {
  if (partnershipIds.length === 0) return new Map()
  const rows = await db
    .select({
      id: partnerships.id,
      seq: sql<number>`coalesce((select max(${events.seq}) from ${events} where ${events.partnershipId} = ${partnerships.id}), 0)`.mapWith(
        Number
      )
    })
    .from(partnerships)
    .where(inArray(partnerships.id, [...partnershipIds]))
  return new Map(rows.map((r) => [r.id, r.seq]))
}
