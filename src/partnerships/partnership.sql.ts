import { sql } from 'drizzle-orm'
import { check, index, integer, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { at, idColumn } from '../db/columns.ts'
import { users } from '../users/user.sql.ts'

/** A shared space of 2–8 partners and 0–4 observers. `dissolved` is read-only for whoever remains. */
export const partnerships = pgTable(
  'partnerships',
  {
    id: idColumn(),
    name: text().notNull(),
    timezone: text().notNull(),
    status: text().notNull().default('active'),
    /** Moves with every change of the partnership: its ETag. */
    revision: integer().notNull().default(1),
    createdAt: at().notNull(),
    updatedAt: at().notNull(),
    dissolvedAt: at()
  },
  (t) => [
    check('partnerships_status_check', sql`${t.status} in ('active', 'dissolved')`),
    check('partnerships_name_length_check', sql`char_length(${t.name}) between 1 and 100`)
  ]
)

/**
 * Membership periods. A member who leaves keeps the row (with `leftAt`) for the
 * record and loses access at once; rejoining by a new invitation starts a new row.
 */
export const memberships = pgTable(
  'memberships',
  {
    id: idColumn(),
    partnershipId: uuid()
      .notNull()
      .references(() => partnerships.id, { onDelete: 'restrict' }),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    role: text().notNull(),
    joinedAt: at().notNull(),
    leftAt: at()
  },
  (t) => [
    check('memberships_role_check', sql`${t.role} in ('partner', 'observer')`),
    uniqueIndex('memberships_one_current_idx').on(t.partnershipId, t.userId).where(sql`${t.leftAt} is null`),
    index('memberships_user_current_idx').on(t.userId, t.partnershipId).where(sql`${t.leftAt} is null`)
  ]
)

export type PartnershipRow = typeof partnerships.$inferSelect
export type MembershipRow = typeof memberships.$inferSelect
export type Role = 'partner' | 'observer'
