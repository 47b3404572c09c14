import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import { requireMembership } from '../partnerships/membership.service.ts'
import { type OpenedText, openPersonalTexts } from '../users/personal-text.service.ts'
import * as render from './agreement.render.ts'
import * as repo from './agreement.repo.ts'
import type { AgreementRow, SignatureRow, VersionRow } from './agreement.sql.ts'
import { noSuchAgreement, noSuchVersion, readAgreement } from './agreement-access.service.ts'
import { diffContent, type VersionDiff } from './diff.rules.ts'
import { declineReasonPurpose } from './version.rules.ts'

export interface VersionWithSignatures {
  version: VersionRow
  signatures: SignatureRow[]
  /** The decline reason opened under the decliner's data key; absent when the version was not read for it. */
  declined?: OpenedText
}

async function withSignatures(
  deps: Pick<Deps, 'db' | 'kek'>,
  versions: VersionRow[]
): Promise<VersionWithSignatures[]> {
  const sigs = await repo.listSignatures(
    deps.db,
    versions.map((v) => v.id)
  )
  const reasons = await openPersonalTexts(
    deps,
    deps.db,
    versions.map((v) => ({ authorId: v.declinedBy, value: v.declineReason, purpose: declineReasonPurpose(v.id) }))
  )
  return versions.map((version, n) => ({
    version,
    signatures: sigs.filter((s) => s.versionId === version.id),
    declined: reasons[n]!
  }))
}

export interface AgreementDetail {
  agreement: AgreementRow
  active: VersionWithSignatures | null
  proposal: VersionWithSignatures | null
}

/**
 * An agreement with its active version and open proposal, for a member: the
 * hottest read of the API, so one prepared statement (tenancy joined into the
 * read). A non-member gets the same 404 as for an unknown partnership.
 */
export async function getAgreement(
  deps: Pick<Deps, 'db'>,
  input: { partnershipId: string; agreementId: string; userId: string }
): Promise<AgreementDetail> {
  const found = await repo.findAgreementDetailForMember(deps.db, input.partnershipId, input.agreementId, input.userId)
  if (!found) {
    await requireMembership(deps.db, input.partnershipId, input.userId)
    throw noSuchAgreement()
  }
  const { agreement, versions } = found
  const find = (n: number | null) => (n === null ? null : (versions.find((d) => d.version.number === n) ?? null))
  return { agreement, active: find(agreement.activeVersion), proposal: find(agreement.openProposal) }
}

/**
 * GET agreement as JSON text and its revision (ETag), rendered by the database in
 * one statement (the hottest read of the API); same answers as getAgreement.
 * A body rendered earlier is served again after one cheap check (membership and
 * revision (ETag), one index lookup each): see AgreementBodies.
 */
export async function getAgreementJson(
  deps: Pick<Deps, 'db' | 'agreementBodies'>,
  input: { partnershipId: string; agreementId: string; userId: string }
): Promise<{ revision: number; body: string }> {
  const cached = deps.agreementBodies?.get(input.agreementId)
  if (cached !== undefined && cached.partnershipId === input.partnershipId) {
    const revision = await render.agreementRevisionForMember(
      deps.db,
      input.partnershipId,
      input.agreementId,
      input.userId
    )
    if (revision === undefined) return notFound(deps, input)
    if (revision === cached.revision) return cached
  }
  const found = await render.renderAgreementDetailForMember(
    deps.db,
    input.partnershipId,
    input.agreementId,
    input.userId
  )
  if (!found) return notFound(deps, input)
  deps.agreementBodies?.set(input.agreementId, { partnershipId: input.partnershipId, ...found })
  return found
}

/** The unknown-agreement answer, after the membership check's own (a stranger gets the unknown-partnership 404). */
async function notFound(deps: Pick<Deps, 'db'>, input: { partnershipId: string; userId: string }): Promise<never> {
  await requireMembership(deps.db, input.partnershipId, input.userId)
  throw noSuchAgreement()
}

export async function listAgreements(
  deps: Pick<Deps, 'db'>,
  input: {
    partnershipId: string
    userId: string
    status?: string | undefined
    category?: string | undefined
    afterId: string | null
    limit: number
  }
): Promise<AgreementRow[]> {
  await requireMembership(deps.db, input.partnershipId, input.userId)
  return repo.listAgreements(
    deps.db,
    input.partnershipId,
    { status: input.status, category: input.category },
    input.afterId,
    input.limit
  )
}

export async function listVersions(
  deps: Pick<Deps, 'db' | 'kek'>,
  input: { partnershipId: string; agreementId: string; userId: string; afterNumber: number; limit: number }
): Promise<VersionWithSignatures[]> {
  const agreement = await readAgreement(deps.db, input.partnershipId, input.agreementId, input.userId)
  return withSignatures(deps, await repo.listVersions(deps.db, agreement.id, input.afterNumber, input.limit))
}

export async function getVersion(
  deps: Pick<Deps, 'db' | 'kek'>,
  input: { partnershipId: string; agreementId: string; number: number; userId: string }
): Promise<VersionWithSignatures> {
  const agreement = await readAgreement(deps.db, input.partnershipId, input.agreementId, input.userId)
  const version = await repo.findVersion(deps.db, agreement.id, input.number)
  if (!version) throw noSuchVersion()
  return (await withSignatures(deps, [version]))[0]!
}

/** A partner's latest signature of a version, live or revoked (the Location of a new signature). */
export async function getSignature(
  deps: Pick<Deps, 'db' | 'kek'>,
  input: { partnershipId: string; agreementId: string; number: number; signerId: string; userId: string }
): Promise<SignatureRow> {
  const { signatures } = await getVersion(deps, input)
  const latest = signatures.filter((s) => s.signerId === input.signerId).at(-1)
  if (!latest) throw new DomainError('NOT_FOUND', 'that partner has not signed this version')
  return latest
}

/** The clause-level difference from version `against` to version `number`. */
export async function diffVersions(
  deps: Pick<Deps, 'db'>,
  input: { partnershipId: string; agreementId: string; number: number; against: number; userId: string }
): Promise<{ from: number; to: number; diff: VersionDiff }> {
  const agreement = await readAgreement(deps.db, input.partnershipId, input.agreementId, input.userId)
  const [to, from] = await Promise.all([
    repo.findVersion(deps.db, agreement.id, input.number),
    repo.findVersion(deps.db, agreement.id, input.against)
  ])
  if (!to) throw noSuchVersion()
  if (!from)
    throw new DomainError('VALIDATION_FAILED', `there is no version ${input.against}`, {
      errors: [{ in: 'query', path: '/against', message: 'no such version' }]
    })
  return { from: from.number, to: to.number, diff: diffContent(from, to) }
}
