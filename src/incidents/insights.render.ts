// The numbers behind GET …/agreements/{aid}/insights, gathered by PostgreSQL in one statement (membership check
// included): months are cut in the partnership's time zone by the database (at time zone, DST-correct), and
// nothing is counted by person. insights.rules.ts turns them into the answer.
import type { DbOrTx } from '../db/client.ts'
import { execute, isoText } from '../db/driver.ts'

/** Counts per local month ('YYYY-MM') of the last 12 months, and the completed reviews oldest first. */
export interface InsightFacts {
  timezone: string
  openIncidents: number
  lastIncidentAt: string | null
  incidentsTotal: number
  appreciationsTotal: number
  incidentMonths: Record<string, number>
  appreciationMonths: Record<string, number>
  reviews: Array<{ outcome: 'keep' | 'revise' | 'retire'; onTime: boolean; ratingSum: number; ratings: number }>
}

// $1 partnership, $2 agreement, $3 caller, $4 now (ISO). `since` is the first instant of the local month 11
// months before the current one, so the window holds 12 local months.
export const INSIGHT_FACTS = `with a as (
    select a.id, a.open_incidents, a.last_incident_at, p.timezone,
      (date_trunc('month', $4::timestamptz at time zone p.timezone) - interval '11 months') at time zone p.timezone as since
    from agreements a
    join partnerships p on p.id = a.partnership_id
    join memberships m on m.partnership_id = a.partnership_id and m.user_id = $3 and m.left_at is null
    where a.id = $2 and a.partnership_id = $1)
  select a.timezone, a.open_incidents, ${isoText('a.last_incident_at')} as last_incident_at,
    (select count(*) from incidents i where i.agreement_id = a.id)::int as incidents_total,
    (select count(*) from appreciations x where x.agreement_id = a.id)::int as appreciations_total,
    (select coalesce(json_object_agg(month, n), '{}') from (
      select to_char(i.occurred_at at time zone a.timezone, 'YYYY-MM') as month, count(*) as n from incidents i
      where i.agreement_id = a.id and i.occurred_at >= a.since group by 1) im)::text as incident_months,
    (select coalesce(json_object_agg(month, n), '{}') from (
      select to_char(x.created_at at time zone a.timezone, 'YYYY-MM') as month, count(*) as n from appreciations x
      where x.agreement_id = a.id and x.created_at >= a.since group by 1) am)::text as appreciation_months,
    (select coalesce(json_agg(json_build_object('outcome', r.outcome, 'onTime', r.closed_at <= r.due_at + interval '7 days',
        'ratingSum', (select coalesce(sum(rr.rating), 0) from review_responses rr where rr.review_id = r.id),
        'ratings', (select count(*) from review_responses rr where rr.review_id = r.id)) order by r.closed_at, r.id), '[]')
      from reviews r where r.agreement_id = a.id and r.status = 'completed' and r.outcome is not null)::text as reviews
  from a`

/** The facts, only for a current member of the partnership; undefined otherwise (or for an unknown agreement). */
export async function insightFactsForMember(
  db: DbOrTx,
  input: { partnershipId: string; agreementId: string; userId: string; now: Date }
): Promise<InsightFacts | undefined> {
  const [row] = await execute(db, INSIGHT_FACTS, [
    input.partnershipId,
    input.agreementId,
    input.userId,
    input.now.toISOString()
  ])
  if (row === undefined) return undefined
  return {
    timezone: row.timezone as string,
    openIncidents: Number(row.open_incidents),
    lastIncidentAt: row.last_incident_at as string | null,
    incidentsTotal: Number(row.incidents_total),
    appreciationsTotal: Number(row.appreciations_total),
    incidentMonths: JSON.parse(row.incident_months as string),
    appreciationMonths: JSON.parse(row.appreciation_months as string),
    reviews: JSON.parse(row.reviews as string)
  }
}
