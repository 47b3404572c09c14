import { appendEvent } from '../audit/audit.service.ts'
import type { DbOrTx } from '../db/client.ts'
import { newId } from '../db/columns.ts'
import type { Deps } from '../deps.ts'
import type { PartnershipRow } from '../partnerships/partnership.sql.ts'
import * as repo from './agreement.repo.ts'
import type { AgreementRow, SignatureRow, VersionRow } from './agreement.sql.ts'
import { nextOccurrence } from './cadence.rules.ts'
import { isTerms } from './content.schemas.ts'

export const RECEIPT_TYP = 'accord-receipt+jws'

/**
 * Records a signature with its receipt: a compact JWS (EdDSA, the service key)
 * over {agreementId, version, contentHash, signerId, signedAt}, verifiable by
 * anyone against /.well-known/jwks.json.
 */
export async function recordSignature (tx: DbOrTx, deps: Pick<Deps, 'keys' | 'now' | 'config'>, input: { partnershipId: string, version: VersionRow, signerId: string }): Promise<SignatureRow> {
  const signedAt = deps.now()
  const receipt = await deps.keys.signJws({
    iss: deps.config.publicUrl,
    partnershipId: input.partnershipId,
    agreementId: input.version.agreementId,
    version: input.version.number,
    contentHash: input.version.contentHash,
    signerId: input.signerId,
    signedAt: signedAt.toISOString()
  }, RECEIPT_TYP)
  const signature = await repo.insertSignature(tx, { id: newId(), versionId: input.version.id, signerId: input.signerId, contentHash: input.version.contentHash, signedAt, receipt })
  await appendEvent(tx, deps.now, { partnershipId: input.partnershipId, type: 'version.signed', actorId: input.signerId, subject: { type: 'version', id: input.version.id }, data: { agreementId: input.version.agreementId, number: input.version.number, contentHash: input.version.contentHash } })
  return signature
}

/**
 * The last required signature's consequence, in the same transaction: the
 * previous active version is superseded, this one becomes active, the next
 * review date is computed (terms) or the agreement is retired (retirement).
 */
export async function activate (tx: DbOrTx, deps: Pick<Deps, 'now'>, input: { partnership: PartnershipRow, agreement: AgreementRow, version: VersionRow, actorId: string }): Promise<AgreementRow> {
  const { partnership, agreement, version } = input
  const at = deps.now()
  const subject = (v: VersionRow) => ({ type: 'version', id: v.id })
  if (agreement.activeVersion !== null) {
    const previous = await repo.findVersion(tx, agreement.id, agreement.activeVersion, true)
    if (previous && previous.status === 'active') {
      await repo.updateVersion(tx, previous.id, { status: 'superseded', closedAt: at })
      await appendEvent(tx, deps.now, { partnershipId: partnership.id, type: 'version.superseded', actorId: input.actorId, subject: subject(previous), data: { agreementId: agreement.id, number: previous.number, by: version.number } })
    }
  }
  await repo.updateVersion(tx, version.id, { status: 'active', activatedAt: at })
  await appendEvent(tx, deps.now, { partnershipId: partnership.id, type: 'version.activated', actorId: input.actorId, subject: subject(version), data: { agreementId: agreement.id, number: version.number, contentHash: version.contentHash } })
  if (!isTerms(version.content)) {
    const retired = await repo.updateAgreement(tx, agreement.id, { lifecycle: 'retired', activeVersion: version.number, openProposal: null, nextReviewAt: null, revisionRequested: false, updatedAt: at })
    await appendEvent(tx, deps.now, { partnershipId: partnership.id, type: 'agreement.retired', actorId: input.actorId, subject: { type: 'agreement', id: agreement.id }, data: { number: version.number } })
    return retired
  }
  return repo.updateAgreement(tx, agreement.id, {
    lifecycle: 'active',
    activeVersion: version.number,
    openProposal: null,
    title: version.content.title,
    category: version.content.category,
    nextReviewAt: nextOccurrence(version.content.review, partnership.timezone, at, at),
    revisionRequested: false,
    updatedAt: at
  })
}
