import { sql } from 'drizzle-orm'
import { check, integer, pgTable, text, unique } from 'drizzle-orm/pg-core'
import { at, idColumn } from '../db/columns.ts'

/** People, provisioned on their first authenticated call and keyed by the token's (iss, sub). */
export const users = pgTable(
  'users',
  {
    id: idColumn(),
    issuer: text().notNull(),
    subject: text().notNull(),
    displayName: text().notNull(),
    timezone: text().notNull(),
    /** Moves with every change of the profile: its ETag. */
    revision: integer().notNull().default(1),
    createdAt: at().notNull(),
    updatedAt: at().notNull()
  },
  (t) => [
    unique('users_issuer_subject_key').on(t.issuer, t.subject),
    check('users_display_name_length_check', sql`char_length(${t.displayName}) between 1 and 100`)
  ]
)

export type UserRow = typeof users.$inferSelect
export type UserId = UserRow['id']
