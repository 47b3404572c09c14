// GET agreement rendered to JSON by PostgreSQL, and the rendered bodies kept in memory: the hottest read of the
// API. The reference it must equal is toAgreementDetail (agreement.schemas.ts) over getAgreement's rows;
// test/agreements/rendering.test.ts holds the two equal in every state.
import { LRUCache } from 'lru-cache'
import type { DbOrTx } from '../db/client.ts'
import { execute, isoText } from '../db/driver.ts'
import { stringBytes } from '../lib/text.ts'
import { inRevisionSql } from './agreement.sql.ts'

const iso = isoText

// The active version and the open proposal are never declined: no decline reason (a sealed personal text) here.
const versionJson = (v: string) => `(select json_build_object(
    'agreementId', ${v}.agreement_id, 'number', ${v}.number, 'kind', ${v}.kind, 'status', ${v}.status, 'content', ${v}.content,
    'contentHash', ${v}.content_hash, 'previousHash', ${v}.previous_hash, 'basedOn', ${v}.based_on, 'authorId', ${v}.author_id,
    'requiredSigners', ${v}.required_signers,
    'signatures', coalesce((select json_agg(json_build_object('signerId', s.signer_id, 'versionNumber', ${v}.number, 'contentHash', s.content_hash,
        'signedAt', ${iso('s.signed_at')}, 'receipt', s.receipt, 'revokedAt', null) order by s.signed_at, s.id)
      from signatures s where s.version_id = ${v}.id and s.revoked_at is null), '[]'::json),
    'declineReason', null, 'erased', false, 'createdAt', ${iso(`${v}.created_at`)}, 'proposedAt', ${iso(`${v}.proposed_at`)},
    'activatedAt', ${iso(`${v}.activated_at`)}, 'closedAt', ${iso(`${v}.closed_at`)})`

/**
 * GET agreement rendered by PostgreSQL: the JSON body (the AgreementDetail
 * schema, field for field what `toAgreementDetail` gives; a test holds the two
 * equal) and the revision (ETag), only for a current member, in one statement. The
 * hottest read of the API skips row decoding, Date objects and re-serialization.
 */
export const AGREEMENT_DETAIL_JSON = `select a.revision, json_build_object(
    'id', a.id, 'partnershipId', a.partnership_id, 'title', a.title, 'category', a.category,
    'status', case when ${inRevisionSql('a')} then 'in_revision' else a.lifecycle end,
    'activeVersion', a.active_version, 'openProposal', a.open_proposal, 'nextReviewAt', ${iso('a.next_review_at')},
    'openIncidents', a.open_incidents, 'lastIncidentAt', ${iso('a.last_incident_at')},
    'createdBy', a.created_by, 'createdAt', ${iso('a.created_at')}, 'updatedAt', ${iso('a.updated_at')},
    'active', ${versionJson('va')} from agreement_versions va where va.agreement_id = a.id and va.number = a.active_version),
    'proposal', ${versionJson('vp')} from agreement_versions vp where vp.agreement_id = a.id and vp.number = a.open_proposal)
  )::text as body
  from agreements a
  join memberships m on m.partnership_id = a.partnership_id and m.user_id = $3 and m.left_at is null
  where a.id = $2 and a.partnership_id = $1`

export const AGREEMENT_REVISION_FOR_MEMBER = `select a.revision from agreements a
  join memberships m on m.partnership_id = a.partnership_id and m.user_id = $3 and m.left_at is null
  where a.id = $2 and a.partnership_id = $1`

/** The agreement's revision (its ETag), only for a current member: what validates a rendered body kept in memory. */
export async function agreementRevisionForMember(
  db: DbOrTx,
  partnershipId: string,
  agreementId: string,
  userId: string
): Promise<number | undefined> {
  const [row] = await execute(db, AGREEMENT_REVISION_FOR_MEMBER, [partnershipId, agreementId, userId])
  return row === undefined ? undefined : Number(row.revision)
}

export async function renderAgreementDetailForMember(
  db: DbOrTx,
  partnershipId: string,
  agreementId: string,
  userId: string
): Promise<{ revision: number; body: string } | undefined> {
  const [row] = await execute(db, AGREEMENT_DETAIL_JSON, [partnershipId, agreementId, userId])
  return row === undefined ? undefined : { revision: Number(row.revision), body: row.body as string }
}

/** GET agreement as the database rendered it, with the revision (ETag) it was rendered at. */
export interface RenderedAgreement {
  readonly partnershipId: string
  readonly revision: number
  readonly body: string
}

/**
 * Rendered agreement bodies, least recently used out first, bounded in bytes.
 * An entry is only ever served after the database confirmed, in the same
 * request, that the caller is a current member and that the agreement's ETag
 * version is still the one it was rendered at: every change to the
 * representation moves that version in its own transaction, so an equal
 * version means an equal body. Per process, so nothing is shared between
 * instances and nothing needs invalidating.
 */
export type AgreementBodies = LRUCache<string, RenderedAgreement>

export function agreementBodies(maxBytes: number): AgreementBodies | null {
  if (maxBytes <= 0) return null
  // The body's characters as V8 holds them, plus the entry's own overhead.
  return new LRUCache<string, RenderedAgreement>({
    maxSize: maxBytes,
    sizeCalculation: (v) => stringBytes(v.body) + 200
  })
}
