import { appendEvent } from '../audit/append.service.ts'
import { hashEvent } from '../audit/event.rules.ts'
import type { EventRow } from '../audit/event.sql.ts'
import type { DbOrTx } from '../db/client.ts'
import { newId } from '../db/columns.ts'
import type { Deps } from '../deps.ts'
import type { PartnershipRow } from '../partnerships/partnership.sql.ts'
import * as repo from './agreement.repo.ts'
import type { AgreementRow, SignatureRow, VersionRow } from './agreement.sql.ts'
import { firstReviewAfter } from './cadence.rules.ts'
import { isTerms } from './content.schemas.ts'

export const RECEIPT_TYP = 'accord-receipt+jws'

/**
 * The receipt of a signature: a compact JWS (EdDSA, the service key) over
 * {agreementId, version, contentHash, signerId, signedAt}, verifiable by anyone
 * against /.well-known/jwks.json.
 */
export async function signReceipt (deps: Pick<Deps, 'keys' | 'config'>, input: { partnershipId: string, version: VersionRow, signerId: string, signedAt: Date }): Promise<string> {
  return deps.keys.signJws({
    iss: deps.config.publicUrl,
    partnershipId: input.partnershipId,
    agreementId: input.version.agreementId,
    version: input.version.number,
    contentHash: input.version.contentHash,
    signerId: input.signerId,
    signedAt: input.signedAt.toISOString()
  }, RECEIPT_TYP)
}

/** Records a signature with its receipt and its `version.signed` event. */
export async function recordSignature (tx: DbOrTx, deps: Pick<Deps, 'keys' | 'now' | 'config'>, input: { partnershipId: string, version: VersionRow, signerId: string }): Promise<SignatureRow> {
  const signedAt = deps.now()
  const receipt = await signReceipt(deps, { ...input, signedAt })
  const signature = await repo.insertSignature(tx, { id: newId(), versionId: input.version.id, signerId: input.signerId, contentHash: input.version.contentHash, signedAt, receipt })
  await appendEvent(tx, deps.now, { partnershipId: input.partnershipId, type: 'version.signed', actorId: input.signerId, subject: { type: 'version', id: input.version.id }, data: { agreementId: input.version.agreementId, number: input.version.number, contentHash: input.version.contentHash } })
  return signature
}

/** What the last required signature changes, computed before it is written in one statement. */
export interface Activation {
  /** The version it supersedes (the active one), if any. */
  previousActiveId: string | null
  /** The agreement as it is once the version is active (its ETag version bumped). */
  agreement: AgreementRow
}

/**
 * The last required signature's consequence: the previous active version is
 * superseded, this one becomes active, the next review date is computed (terms)
 * or the agreement is retired (retirement).
 */
export function activationOf (input: { partnership: PartnershipRow, agreement: AgreementRow, version: VersionRow, previousActiveId: string | null, at: Date }): Activation {
  const { partnership, agreement, version, at } = input
  const common = { ...agreement, activeVersion: version.number, openProposal: null, revisionRequested: false, version: agreement.version + 1, updatedAt: at }
  const next: AgreementRow = isTerms(version.content)
    ? { ...common, lifecycle: 'active', title: version.content.title, category: version.content.category, nextReviewAt: firstReviewAfter(version.content.review, partnership.timezone, at) }
    : { ...common, lifecycle: 'retired', nextReviewAt: null }
  return { previousActiveId: input.previousActiveId, agreement: next }
}

/**
 * Events appended after the log's head `last`, chained and hashed exactly as
 * appendEvent does, for a write that inserts them all in one statement. The
 * caller must hold the partnership row lock, as for appendEvent.
 */
export function eventLog (last: { seq: number, hash: string } | null, partnershipId: string, actorId: string, at: Date): { events: EventRow[], push: (type: string, subject: { type: string, id: string }, data: Record<string, unknown>) => void } {
  const events: EventRow[] = []
  let seq = last?.seq ?? 0
  let prevHash = last?.hash ?? null
  return {
    events,
    push (type, subject, data) {
      seq++
      const hash = hashEvent({ seq, partnershipId, type, actorId, subject, data, at: at.toISOString(), prevHash })
      events.push({ partnershipId, seq, type, actorId, subjectType: subject.type, subjectId: subject.id, data, at, prevHash, hash })
      prevHash = hash
    }
  }
}
