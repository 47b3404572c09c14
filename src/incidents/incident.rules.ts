import { isTerms, type VersionContent } from '../agreements/content.schemas.ts'
import { DomainError } from '../errors.ts'
import type { ClauseSnapshot } from './incident.sql.ts'

export type IncidentStatus = 'reported' | 'acknowledged' | 'disputed' | 'resolved'
export type IncidentAnswer = 'acknowledged' | 'disputed'

/** How far ahead of the service's clock `occurredAt` may be (the same tolerance as a token's clock). */
export const CLOCK_TOLERANCE_MS = 60_000

const invalid = (path: string, message: string, detail: string): DomainError =>
  new DomainError('VALIDATION_FAILED', detail, { errors: [{ in: 'body', path, message }] })

/** The clause `key` of a version, as an incident keeps it; 400 when the version has no such clause. */
export function clauseOf(
  content: VersionContent,
  key: string,
  path = '/clauseKey'
): ClauseSnapshot & { appliesTo: 'all' | string[] } {
  const clause = isTerms(content) ? content.clauses.find((c) => c.key === key) : undefined
  if (!clause)
    throw invalid(path, 'no clause of the active version has this key', `the active version has no clause "${key}"`)
  return { key: clause.key, text: clause.text, consequences: clause.consequences, appliesTo: clause.appliesTo }
}

/** The subject must be a current partner the clause binds (self-reports included). */
export function assertSubjectBound(appliesTo: 'all' | string[], partners: readonly string[], subjectId: string): void {
  const bound = partners.includes(subjectId) && (appliesTo === 'all' || appliesTo.includes(subjectId))
  if (!bound)
    throw invalid(
      '/subjectId',
      'is not a current partner this clause applies to',
      'the subject must be a partner the clause applies to'
    )
}

/** `occurredAt` lies between the version's activation and now. */
export function assertOccurredWithin(occurredAt: Date, activatedAt: Date, now: Date): void {
  if (occurredAt.getTime() > now.getTime() + CLOCK_TOLERANCE_MS)
    throw invalid('/occurredAt', 'is in the future', 'an incident cannot have occurred in the future')
  if (occurredAt.getTime() < activatedAt.getTime())
    throw invalid(
      '/occurredAt',
      `is before the version was activated (${activatedAt.toISOString()})`,
      'an incident is reported against the active version: it must have occurred after its activation'
    )
}

// Named `incidentStatus`: a problem's own `status` member is the HTTP status (RFC 9457), which an extension must not replace.
const conflict = (status: IncidentStatus, allowed: string): DomainError =>
  new DomainError('INCIDENT_STATUS', `the incident is ${status}; ${allowed}`, { extra: { incidentStatus: status } })

/** Only the subject answers, once, while it is reported. */
export function assertAnswerable(incident: { status: string; subjectId: string }, userId: string): void {
  if (incident.subjectId !== userId)
    throw new DomainError('NOT_THE_SUBJECT', 'only the partner the incident is about acknowledges or disputes it')
  if (incident.status !== 'reported')
    throw conflict(incident.status as IncidentStatus, 'only a reported incident can be acknowledged or disputed')
}

/**
 * Any partner resolves an incident its subject has answered; one whose subject is
 * no longer a partner (and so can never answer) may be resolved as it is.
 */
export function assertResolvable(incident: { status: string; subjectId: string }, partners: readonly string[]): void {
  const status = incident.status as IncidentStatus
  if (status === 'acknowledged' || status === 'disputed') return
  if (status === 'reported' && !partners.includes(incident.subjectId)) return
  throw conflict(
    status,
    status === 'reported'
      ? 'its subject acknowledges or disputes it first'
      : 'a resolved incident stays as it was resolved'
  )
}

/** The consequence applied: one of the clause's agreed consequences by index, or none. */
export function consequenceAt(clause: ClauseSnapshot, index: number | null): string | null {
  if (index === null) return null
  const consequence = clause.consequences[index]
  if (consequence === undefined)
    throw invalid(
      '/consequenceIndex',
      clause.consequences.length === 0
        ? 'this clause has no agreed consequences: use null'
        : `must be null or 0–${clause.consequences.length - 1}`,
      `clause "${clause.key}" has ${clause.consequences.length} agreed consequence(s)`
    )
  return consequence
}

/**
 * What GET agreement shows of its incidents after one is reported (`occurredAt`)
 * or resolved: the unresolved count, and when the latest one occurred.
 */
export function incidentSummary(
  agreement: { openIncidents: number; lastIncidentAt: Date | null },
  change: { reported: Date } | { resolved: true }
): { openIncidents: number; lastIncidentAt: Date | null } {
  if ('resolved' in change)
    return { openIncidents: Math.max(0, agreement.openIncidents - 1), lastIncidentAt: agreement.lastIncidentAt }
  const last = agreement.lastIncidentAt
  return {
    openIncidents: agreement.openIncidents + 1,
    lastIncidentAt: last === null || change.reported > last ? change.reported : last
  }
}
