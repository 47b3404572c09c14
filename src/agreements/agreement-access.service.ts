import type { DbOrTx } from '../db/client.ts'
import { DomainError } from '../errors.ts'
import { beginPartnerWrite, requireMembership } from '../partnerships/membership.service.ts'
import type { PartnershipRow } from '../partnerships/partnership.sql.ts'
import * as repo from './agreement.repo.ts'
import type { AgreementRow, VersionRow } from './agreement.sql.ts'
import { isTerms, type VersionContent } from './content.schemas.ts'

export const noSuchAgreement = (): DomainError => new DomainError('NOT_FOUND', 'no such agreement')
export const noSuchVersion = (): DomainError => new DomainError('NOT_FOUND', 'no such version')

/** Opens a write on an agreement: partnership lock and partner checks (404/403/409), then the agreement row lock. */
export async function beginAgreementWrite(
  tx: DbOrTx,
  partnershipId: string,
  agreementId: string,
  userId: string
): Promise<{ partnership: PartnershipRow; agreement: AgreementRow }> {
  const { partnership } = await beginPartnerWrite(tx, partnershipId, userId)
  const agreement = await repo.findAgreement(tx, partnershipId, agreementId, true)
  if (!agreement) throw noSuchAgreement()
  return { partnership, agreement }
}

export async function readAgreement(
  db: DbOrTx,
  partnershipId: string,
  agreementId: string,
  userId: string
): Promise<AgreementRow> {
  await requireMembership(db, partnershipId, userId)
  const agreement = await repo.findAgreement(db, partnershipId, agreementId)
  if (!agreement) throw noSuchAgreement()
  return agreement
}

export async function lockVersion(tx: DbOrTx, agreementId: string, number: number): Promise<VersionRow> {
  const version = await repo.findVersion(tx, agreementId, number, true)
  if (!version) throw noSuchVersion()
  return version
}

/** Clauses may name only current partners in `appliesTo`. */
export function assertAppliesToPartners(content: VersionContent, partners: readonly string[]): void {
  if (!isTerms(content)) return
  const errors = content.clauses.flatMap((c, i) =>
    Array.isArray(c.appliesTo)
      ? c.appliesTo
          .filter((id) => !partners.includes(id))
          .map(() => ({
            in: 'body',
            path: `/content/clauses/${i}/appliesTo`,
            message: 'names someone who is not a current partner'
          }))
      : []
  )
  if (errors.length > 0)
    throw new DomainError('VALIDATION_FAILED', 'appliesTo may name only current partners', { errors })
}
