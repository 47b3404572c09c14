import { sql } from 'drizzle-orm'
import { check, index, integer, jsonb, pgTable, smallint, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { at, idColumn } from '../db/columns.ts'
import { users } from '../users/user.sql.ts'

/**
 * Idempotency-Key records: one per (caller, method, resource, key). A row is
 * `running` while the first request executes (a concurrent retry gets 409),
 * `committed` once the transaction that did its work committed (marked in that
 * same transaction), then `done` with the response to replay for 24 h. A
 * `running` row whose lease ran out (its process died) may be taken over; a
 * `committed` one never runs again.
 *
 * `scheme` says how `key`, `fingerprint` and `body` were made (http/idempotency.ts): 2, under the server's
 * `idempotency` secret and the client's key; 1, records made before that secret existed (under the client's
 * key alone), read until they expire 24 h after the upgrade and never written again.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    id: idColumn(),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    method: text().notNull(),
    path: text().notNull(),
    key: text().notNull(),
    fingerprint: text().notNull(),
    scheme: smallint().notNull().default(1),
    state: text().notNull(),
    leaseUntil: at().notNull(),
    statusCode: integer(),
    headers: jsonb().$type<Record<string, string>>(),
    body: text(),
    createdAt: at().notNull(),
    expiresAt: at().notNull()
  },
  (t) => [
    uniqueIndex('idempotency_keys_scope_idx').on(t.userId, t.method, t.path, t.key),
    index('idempotency_keys_expires_at_idx').on(t.expiresAt),
    check('idempotency_keys_state_check', sql`${t.state} in ('running', 'committed', 'done')`)
  ]
)

export type IdempotencyKeyRow = typeof idempotencyKeys.$inferSelect
