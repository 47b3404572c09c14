import { index, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { at, idColumn } from '../db/columns.ts'
import { users } from '../users/user.sql.ts'

/** Secret calendar-feed URLs: the token is shown once and stored as its SHA-256; revocable. */
export const calendarTokens = pgTable(
  'calendar_tokens',
  {
    id: idColumn(),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: text().notNull(),
    createdAt: at().notNull(),
    /** When the feed was last fetched (to the minute: a calendar app polls it), so a forgotten feed can be found. */
    lastUsedAt: at(),
    revokedAt: at()
  },
  (t) => [uniqueIndex('calendar_tokens_token_hash_idx').on(t.tokenHash), index('calendar_tokens_user_idx').on(t.userId)]
)

export type CalendarTokenRow = typeof calendarTokens.$inferSelect
