import { DomainError } from '../errors.ts'
import { jcsHash } from '../lib/hash.ts'
import type { VersionContent } from './content.schemas.ts'

export type VersionKind = 'terms' | 'retirement'
export type VersionStatus = 'draft' | 'proposed' | 'active' | 'superseded' | 'declined' | 'withdrawn' | 'voided'
export type AgreementLifecycle = 'draft' | 'proposed' | 'active' | 'suspended' | 'retired' | 'ended'
export type AgreementStatus = AgreementLifecycle | 'in_revision'

/**
 * The content hash of a version: JCS + SHA-256 over exactly
 * {agreementId, number, kind, previousHash, content}, where content is the
 * normalized object the API returns. Anyone can recompute it from a GET.
 */
export function contentHashOf(v: {
  agreementId: string
  number: number
  kind: VersionKind
  previousHash: string | null
  content: VersionContent
}): string {
  return jcsHash({
    agreementId: v.agreementId,
    number: v.number,
    kind: v.kind,
    previousHash: v.previousHash,
    content: v.content
  })
}

/** The agreement's status as the API shows it: `in_revision` is an active agreement being reworked. */
export function agreementStatus(a: {
  lifecycle: string
  openProposal: number | null
  revisionRequested: boolean
}): AgreementStatus {
  if (a.lifecycle === 'active' && (a.openProposal !== null || a.revisionRequested)) return 'in_revision'
  return a.lifecycle as AgreementLifecycle
}

/** Whether an agreement can take a new proposal at all. */
export function assertOpenForProposals(lifecycle: string): void {
  if (lifecycle === 'retired') throw new DomainError('AGREEMENT_CLOSED', 'this agreement is retired')
  if (lifecycle === 'ended') throw new DomainError('AGREEMENT_CLOSED', 'this agreement ended with the partnership')
}

/** What a decline reason is (the AAD of its sealing under the decliner's data key: users/personal-text.service.ts). */
export const declineReasonPurpose = (versionId: string): string => `version.decline-reason:${versionId}`
