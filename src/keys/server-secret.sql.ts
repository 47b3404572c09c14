import { pgTable, text } from 'drizzle-orm/pg-core'
import { at } from '../db/columns.ts'

/**
 * The service's own symmetric secrets, by name (keys/server-secret.service.ts): 32 random bytes each, made on
 * the first start and sealed under the KEK (keys/kek.ts) for `accord:server-secret:<name>`. A dump of the
 * database alone does not hold them, so what they key (idempotency records, erased identities) stays closed.
 */
export const serverSecrets = pgTable('server_secrets', {
  name: text().primaryKey(),
  sealed: text().notNull(),
  createdAt: at().notNull()
})

export type ServerSecretRow = typeof serverSecrets.$inferSelect
