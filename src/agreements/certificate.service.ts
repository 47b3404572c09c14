import { signCheckpoint } from '../audit/checkpoint.service.ts'
import type { Deps } from '../deps.ts'
import { readAgreement } from './agreement-access.service.ts'
import * as repo from './certificate.repo.ts'
import type { Certificate } from './certificate.schemas.ts'

/**
 * An agreement's certificate of completion, for a member: every version but drafts, each with its content
 * and previous hashes, status, author and required signers, times, every signature with its receipt
 * (revoked ones too), and the log events about it; then a checkpoint of the log signed after those reads,
 * so it covers every event listed (events appended meanwhile fall after it, never between).
 */
export async function getCertificate(
  deps: Pick<Deps, 'db' | 'keys' | 'config' | 'now'>,
  input: { partnershipId: string; agreementId: string; userId: string }
): Promise<Certificate> {
  const agreement = await readAgreement(deps.db, input.partnershipId, input.agreementId, input.userId)
  const versions = await repo.listCertifiedVersions(deps.db, agreement.id)
  const ids = versions.map((v) => v.id)
  const [signatures, events] = [
    await repo.listAllSignatures(deps.db, ids),
    await repo.listEventsAbout(deps.db, input.partnershipId, agreement.id, ids)
  ]
  const people = new Set([
    ...versions.flatMap((v) => [v.authorId, ...v.requiredSigners]),
    ...signatures.map((s) => s.signerId)
  ])
  const names = await repo.displayNames(deps.db, [...people])
  const person = (userId: string) => ({ userId, displayName: names.get(userId) ?? null })
  const event = (e: repo.SubjectEvent) => ({ seq: e.seq, type: e.type, at: e.at.toISOString(), hash: e.hash })
  const iso = (d: Date | null) => d?.toISOString() ?? null
  const checkpoint = await signCheckpoint(deps, input.partnershipId)
  return {
    agreement: {
      id: agreement.id,
      partnershipId: agreement.partnershipId,
      title: agreement.title,
      category: agreement.category,
      createdAt: agreement.createdAt.toISOString()
    },
    issuedAt: checkpoint.at,
    versions: versions.map((v) => ({
      number: v.number,
      kind: v.kind as 'terms' | 'retirement',
      title: 'title' in v.content && typeof v.content.title === 'string' ? v.content.title : null,
      status: v.status,
      contentHash: v.contentHash,
      previousHash: v.previousHash,
      basedOn: v.basedOn,
      author: person(v.authorId),
      requiredSigners: v.requiredSigners.map(person),
      createdAt: v.createdAt.toISOString(),
      proposedAt: iso(v.proposedAt),
      activatedAt: iso(v.activatedAt),
      closedAt: iso(v.closedAt),
      signatures: signatures
        .filter((s) => s.versionId === v.id)
        .map((s) => ({
          ...person(s.signerId),
          contentHash: s.contentHash,
          signedAt: s.signedAt.toISOString(),
          revokedAt: iso(s.revokedAt),
          receipt: s.receipt
        })),
      events: events.filter((e) => e.subjectType === 'version' && e.subjectId === v.id).map(event)
    })),
    events: events.filter((e) => e.subjectType === 'agreement').map(event),
    checkpoint
  }
}
