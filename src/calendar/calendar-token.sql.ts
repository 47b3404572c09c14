import { index, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { at, idColumn } from '../db/columns.ts'
import { users } from '../users/user.sql.ts'

/** Secret calendar-feed URLs: the token is shown once and stored as its SHA-256; revocable. */
export const calendarTokens = pgTable('calendar_tokens', {
  id: idColumn(),
  userId: uuid().notNull().references(() => users.id, { onDelete: 'cascade' }),
  tokenHash: text().notNull(),
  createdAt: at().notNull(),
  revokedAt: at()
}, (t) => [
  uniqueIndex('calendar_tokens_token_hash_idx').on(t.tokenHash),
  index('calendar_tokens_user_idx').on(t.userId)
])
