import { sql } from 'drizzle-orm'
import { boolean, check, index, integer, jsonb, pgTable, text, unique, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { at, idColumn } from '../db/columns.ts'
import { partnerships } from '../partnerships/partnership.sql.ts'
import { users } from '../users/user.sql.ts'
import type { VersionContent } from './content.schemas.ts'

/**
 * A long-lived understanding inside a partnership. `lifecycle` is the stored
 * part of its status (the API's `status` adds `in_revision`, derived); title and
 * category mirror the version that defines it (active, else the latest proposed).
 */
export const agreements = pgTable(
  'agreements',
  {
    id: idColumn(),
    partnershipId: uuid()
      .notNull()
      .references(() => partnerships.id, { onDelete: 'restrict' }),
    title: text().notNull(),
    category: text().notNull(),
    lifecycle: text().notNull(),
    activeVersion: integer(),
    openProposal: integer(),
    lastVersionNumber: integer().notNull().default(0),
    nextReviewAt: at(),
    revisionRequested: boolean().notNull().default(false),
    everProposed: boolean().notNull().default(false),
    /** Moves with every change of what GET agreement shows: its ETag (agreement.repo's reviseAgreement). */
    revision: integer().notNull().default(1),
    /** Incidents not yet resolved, and when the latest one occurred: kept by the incident use cases, shown by GET. */
    openIncidents: integer().notNull().default(0),
    lastIncidentAt: at(),
    createdBy: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    createdAt: at().notNull(),
    updatedAt: at().notNull()
  },
  (t) => [
    check(
      'agreements_lifecycle_check',
      sql`${t.lifecycle} in ('draft', 'proposed', 'active', 'suspended', 'retired', 'ended')`
    ),
    index('agreements_partnership_idx').on(t.partnershipId, t.id),
    index('agreements_next_review_idx').on(t.nextReviewAt).where(sql`${t.nextReviewAt} is not null`)
  ]
)

/**
 * Immutable texts of an agreement (a draft is editable by its author until
 * proposed). Partial unique indexes make "one active and one open proposal per
 * agreement" a database guarantee, not only a code path.
 */
export const agreementVersions = pgTable(
  'agreement_versions',
  {
    id: idColumn(),
    agreementId: uuid()
      .notNull()
      .references(() => agreements.id, { onDelete: 'restrict' }),
    number: integer().notNull(),
    kind: text().notNull(),
    status: text().notNull(),
    content: jsonb().$type<VersionContent>().notNull(),
    contentHash: text().notNull(),
    previousHash: text(),
    basedOn: integer(),
    authorId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    requiredSigners: jsonb().$type<string[]>().notNull(),
    /** Moves with every edit of a draft: its ETag. */
    revision: integer().notNull().default(1),
    /** Sealed personal text (users/personal-text.service.ts) under the data key of `declinedBy`. */
    declineReason: text(),
    /** Who declined it: whose data key seals `declineReason` (null for every other status). */
    declinedBy: uuid().references(() => users.id, { onDelete: 'restrict' }),
    createdAt: at().notNull(),
    proposedAt: at(),
    activatedAt: at(),
    closedAt: at()
  },
  (t) => [
    unique('agreement_versions_number_key').on(t.agreementId, t.number),
    check('agreement_versions_kind_check', sql`${t.kind} in ('terms', 'retirement')`),
    check(
      'agreement_versions_status_check',
      sql`${t.status} in ('draft', 'proposed', 'active', 'superseded', 'declined', 'withdrawn', 'voided')`
    ),
    uniqueIndex('agreement_versions_one_active_idx').on(t.agreementId).where(sql`${t.status} = 'active'`),
    uniqueIndex('agreement_versions_one_open_idx').on(t.agreementId).where(sql`${t.status} = 'proposed'`)
  ]
)

/** A partner's consent to one version's exact text. One live signature per signer and version. */
export const signatures = pgTable(
  'signatures',
  {
    id: idColumn(),
    versionId: uuid()
      .notNull()
      .references(() => agreementVersions.id, { onDelete: 'restrict' }),
    signerId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    contentHash: text().notNull(),
    signedAt: at().notNull(),
    receipt: text().notNull(),
    revokedAt: at()
  },
  (t) => [
    uniqueIndex('signatures_one_live_idx').on(t.versionId, t.signerId).where(sql`${t.revokedAt} is null`),
    index('signatures_version_idx').on(t.versionId)
  ]
)

/**
 * The SQL of the derived status `in_revision` over an agreements row aliased `a`: active, with an open proposal
 * or a review that asked to revise. Its TypeScript twin is agreementStatus (version.rules.ts); the rendering
 * test holds the two equal.
 */
export const inRevisionSql = (a: string): string =>
  `${a}.lifecycle = 'active' and (${a}.open_proposal is not null or ${a}.revision_requested)`

export type AgreementRow = typeof agreements.$inferSelect
export type VersionRow = typeof agreementVersions.$inferSelect
export type SignatureRow = typeof signatures.$inferSelect
