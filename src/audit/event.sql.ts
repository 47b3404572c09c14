import { integer, jsonb, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core'
import { at } from '../db/columns.ts'
import { partnerships } from '../partnerships/partnership.sql.ts'

/**
 * The append-only, hash-chained audit log: `seq` is gapless per partnership
 * (appends are serialized by a lock on the partnership row) and each `hash`
 * covers the previous one. Triggers in the migrations reject UPDATE, DELETE
 * and TRUNCATE on this table, so the database itself keeps history immutable.
 */
export const events = pgTable(
  'events',
  {
    partnershipId: uuid()
      .notNull()
      .references(() => partnerships.id, { onDelete: 'restrict' }),
    seq: integer().notNull(),
    type: text().notNull(),
    actorId: uuid(),
    subjectType: text().notNull(),
    subjectId: text().notNull(),
    data: jsonb().$type<Record<string, unknown>>().notNull(),
    at: at().notNull(),
    prevHash: text(),
    hash: text().notNull()
  },
  (t) => [primaryKey({ name: 'events_pkey', columns: [t.partnershipId, t.seq] })]
)

export type EventRow = typeof events.$inferSelect
