import { sql } from 'drizzle-orm'
import { check, integer, pgTable, text, unique, uuid } from 'drizzle-orm/pg-core'
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
    updatedAt: at().notNull(),
    /** Set by erasure (DELETE /v1/me): the identity is then a random pseudonym and the profile is blank. */
    erasedAt: at()
  },
  (t) => [
    unique('users_issuer_subject_key').on(t.issuer, t.subject),
    check('users_display_name_length_check', sql`char_length(${t.displayName}) between 1 and 100`)
  ]
)

export type UserRow = typeof users.$inferSelect
export type UserId = UserRow['id']

/**
 * Each person's data key (AES-256, sealed under the KEK for `accord:data-key:<userId>`): every free text
 * only they wrote is sealed under it (personal-text.service.ts). Erasure deletes the row: crypto-shredding,
 * so the texts are lost in every backup too.
 */
export const dataKeys = pgTable('data_keys', {
  userId: uuid()
    .primaryKey()
    .references(() => users.id, { onDelete: 'restrict' }),
  sealedKey: text().notNull(),
  createdAt: at().notNull()
})

/**
 * Identities that were erased, by an HMAC of (iss, sub) (user.service.ts: erasedIdentityHash) (never the identity itself): a token issued
 * before the erasure is refused, a later login becomes a new user.
 */
export const erasedIdentities = pgTable('erased_identities', {
  identityHash: text().primaryKey(),
  erasedAt: at().notNull()
})

export type DataKeyRow = typeof dataKeys.$inferSelect
