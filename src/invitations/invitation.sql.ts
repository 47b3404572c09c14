import { sql } from 'drizzle-orm'
import { check, index, pgTable, primaryKey, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { at, idColumn } from '../db/columns.ts'
import { partnerships } from '../partnerships/partnership.sql.ts'
import { users } from '../users/user.sql.ts'

/**
 * Single-use invitations. The token is shown once and stored only as its
 * SHA-256 (it carries 256 random bits, so a fast hash is enough). `expired` is
 * not stored: it is derived from `expiresAt` and the clock.
 */
export const invitations = pgTable(
  'invitations',
  {
    id: idColumn(),
    partnershipId: uuid()
      .notNull()
      .references(() => partnerships.id, { onDelete: 'restrict' }),
    role: text().notNull(),
    tokenHash: text().notNull(),
    status: text().notNull().default('pending'),
    createdBy: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    createdAt: at().notNull(),
    expiresAt: at().notNull(),
    acceptedBy: uuid().references(() => users.id, { onDelete: 'restrict' }),
    acceptedAt: at(),
    revokedAt: at()
  },
  (t) => [
    check('invitations_role_check', sql`${t.role} in ('partner', 'observer')`),
    check('invitations_status_check', sql`${t.status} in ('pending', 'accepted', 'revoked')`),
    uniqueIndex('invitations_token_hash_idx').on(t.tokenHash),
    index('invitations_partnership_idx').on(t.partnershipId, t.id)
  ]
)

/** A partner's consent to an observer joining (every current partner must give it). */
export const invitationApprovals = pgTable(
  'invitation_approvals',
  {
    invitationId: uuid()
      .notNull()
      .references(() => invitations.id, { onDelete: 'restrict' }),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    approvedAt: at().notNull()
  },
  (t) => [primaryKey({ name: 'invitation_approvals_pkey', columns: [t.invitationId, t.userId] })]
)

export type InvitationRow = typeof invitations.$inferSelect
