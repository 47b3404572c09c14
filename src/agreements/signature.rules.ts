import { DomainError } from '../errors.ts'
import type { PartnershipRow } from '../partnerships/partnership.sql.ts'
import type { AgreementRow, VersionRow } from './agreement.sql.ts'
import { firstReviewAfter } from './cadence.rules.ts'
import { isTerms } from './content.schemas.ts'

export const RECEIPT_TYP = 'accord-receipt+jws'

/** Who still has to sign before this version becomes active. Throws on a closed version, a non-signer or a second signature. */
export function remainingSigners(
  v: { status: string; required: readonly string[]; signed: readonly string[] },
  signer: string
): string[] {
  if (v.status !== 'proposed')
    throw new DomainError('VERSION_NOT_OPEN', `this version is ${v.status}; only a proposed version can be signed`)
  if (!v.required.includes(signer))
    throw new DomainError('NOT_A_SIGNER', 'only the partners named when it was proposed sign this version')
  if (v.signed.includes(signer)) throw new DomainError('ALREADY_SIGNED', 'you already signed this version')
  return v.required.filter((p) => p !== signer && !v.signed.includes(p))
}

/** What a signature is checked against: the caller's role, the partnership and the version, as read together. */
export interface SigningState {
  partnership: Pick<PartnershipRow, 'status'>
  role: string
  version: Pick<VersionRow, 'status' | 'requiredSigners' | 'contentHash'>
  liveSigners: readonly string[]
}

/**
 * The one set of guards of a sign-off, in the order every write answers
 * (after the 404s of tenancy): an observer is 403, a dissolved partnership
 * 409, then the version must be open, the caller one of its signers who has
 * not signed, and the text they were shown this version's text. Returns who
 * still has to sign after them.
 */
export function assertSignable(state: SigningState, input: { userId: string; contentHash: string }): string[] {
  if (state.role !== 'partner')
    throw new DomainError('OBSERVER_READ_ONLY', 'observers can read this partnership but not change it')
  if (state.partnership.status !== 'active')
    throw new DomainError('PARTNERSHIP_DISSOLVED', 'this partnership is dissolved; it can be read but not changed')
  const remaining = remainingSigners(
    { status: state.version.status, required: state.version.requiredSigners, signed: state.liveSigners },
    input.userId
  )
  if (state.version.contentHash !== input.contentHash) {
    throw new DomainError(
      'CONTENT_HASH_MISMATCH',
      "the text you were shown is not this version's text: GET the version again and read it before signing",
      { extra: { contentHash: state.version.contentHash } }
    )
  }
  return remaining
}

/** What a receipt says: a JWS over these claims, verifiable by anyone against /.well-known/jwks.json. */
export function receiptClaims(input: {
  issuer: string
  partnershipId: string
  version: Pick<VersionRow, 'agreementId' | 'number' | 'contentHash'>
  signerId: string
  signedAt: Date
}): Record<string, unknown> {
  return {
    iss: input.issuer,
    partnershipId: input.partnershipId,
    agreementId: input.version.agreementId,
    version: input.version.number,
    contentHash: input.version.contentHash,
    signerId: input.signerId,
    signedAt: input.signedAt.toISOString()
  }
}

/** What the last required signature changes, computed before it is written in one statement. */
export interface Activation {
  /** The version it supersedes (the active one), if any. */
  previousActiveId: string | null
  /** The agreement as it is once the version is active (its representation revision moved). */
  agreement: AgreementRow
}

/**
 * The last required signature's consequence: the previous active version is
 * superseded, this one becomes active, the next review date is computed (terms)
 * or the agreement is retired (retirement).
 */
export function activationOf(input: {
  partnership: PartnershipRow
  agreement: AgreementRow
  version: VersionRow
  previousActiveId: string | null
  at: Date
}): Activation {
  const { partnership, agreement, version, at } = input
  const common = {
    ...agreement,
    activeVersion: version.number,
    openProposal: null,
    revisionRequested: false,
    revision: agreement.revision + 1,
    updatedAt: at
  }
  const next: AgreementRow = isTerms(version.content)
    ? {
        ...common,
        lifecycle: 'active',
        title: version.content.title,
        category: version.content.category,
        nextReviewAt: firstReviewAfter(version.content.review, partnership.timezone, at)
      }
    : { ...common, lifecycle: 'retired', nextReviewAt: null }
  return { previousActiveId: input.previousActiveId, agreement: next }
}
