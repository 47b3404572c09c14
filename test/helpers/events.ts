import { desc, eq } from 'drizzle-orm'
import { chainEvents } from '../../src/audit/event.rules.ts'
import { events } from '../../src/audit/event.sql.ts'
import type { TestApp } from './app.ts'

/**
 * Appends `count` `partnership.updated` events to a partnership's log straight into the table, chained after
 * its head exactly as the API chains them (chainEvents), in batches: a long log in seconds instead of as many
 * requests. Each event's data carries `padding` (that many characters), to make the log as large as needed.
 */
export async function seedEvents(
  ctx: TestApp,
  partnershipId: string,
  actorId: string,
  count: number,
  padding = 0
): Promise<void> {
  const db = ctx.database.db
  const [head] = await db
    .select({ seq: events.seq, hash: events.hash })
    .from(events)
    .where(eq(events.partnershipId, partnershipId))
    .orderBy(desc(events.seq))
    .limit(1)
  let last: { seq: number; hash: string } | null = head ?? null
  const filler = 'x'.repeat(padding)
  for (let done = 0; done < count; done += 500) {
    const batch = Array.from({ length: Math.min(500, count - done) }, (_, i) => ({
      partnershipId,
      type: 'partnership.updated',
      actorId,
      subject: { type: 'partnership', id: partnershipId },
      data: { name: `Name ${done + i + 1}`, padding: filler }
    }))
    const rows = chainEvents(last, batch, ctx.clock.now())
    await db.insert(events).values(rows)
    const end = rows.at(-1)!
    last = { seq: end.seq, hash: end.hash }
  }
}
