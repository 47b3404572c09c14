import type { LightMyRequestResponse } from 'fastify'
import { agreementKit, content, type Person } from './agreements.ts'
import type { TestApp } from './app.ts'

type Kit = ReturnType<typeof agreementKit>

/**
 * A `terms` content with three clauses: `no-hidden-chats` (all partners, two consequences),
 * `home-by-midnight` (all partners, no consequences) and, when `onlyFor` names partners,
 * `call-if-late` (only them, one consequence).
 */
export const incidentTerms = (
  overrides: Record<string, unknown> = {},
  onlyFor: string[] | null = null
): Record<string, unknown> =>
  content({
    title: 'Trust rebuilding',
    clauses: [
      {
        key: 'no-hidden-chats',
        text: "We don't delete or hide conversations with people we've dated.",
        appliesTo: 'all',
        consequences: ['We talk it through within 48 hours.', 'We see our counselor together.']
      },
      { key: 'home-by-midnight', text: 'We are home by midnight or we call.', appliesTo: 'all', consequences: [] },
      ...(onlyFor === null
        ? []
        : [
            {
              key: 'call-if-late',
              text: 'I call when I will be late.',
              appliesTo: onlyFor,
              consequences: ['I cook on Sunday.']
            }
          ])
    ],
    ...overrides
  })

/** Incidents and appreciations through HTTP, on top of the agreement kit. */
export function incidentKit(ctx: TestApp, k: Kit = agreementKit(ctx)) {
  const incidentsUrl = (pid: string, aid: string): string => `${k.agreementUrl(pid, aid)}/incidents`
  const incidentUrl = (pid: string, aid: string, iid: string): string => `${incidentsUrl(pid, aid)}/${iid}`
  const appreciationsUrl = (pid: string, aid: string): string => `${k.agreementUrl(pid, aid)}/appreciations`

  /** A valid report body about `subject`, occurring now, on `no-hidden-chats`; `overrides` replace fields. */
  const reportBody = (subject: Person | string, overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
    clauseKey: 'no-hidden-chats',
    subjectId: typeof subject === 'string' ? subject : subject.id,
    occurredAt: ctx.clock.now().toISOString(),
    description: 'A chat was deleted.',
    ...overrides
  })

  const report = (
    by: Person,
    pid: string,
    aid: string,
    body: unknown,
    token = by.token
  ): Promise<LightMyRequestResponse> => ctx.request({ method: 'POST', url: incidentsUrl(pid, aid), token, body })

  /** Reports and expects 201: the incident. */
  async function reported(by: Person, pid: string, aid: string, body: unknown): Promise<any> {
    return k.expectStatus(await report(by, pid, aid, body), 201, 'report incident').json()
  }

  const act =
    (path: 'acknowledge' | 'dispute' | 'resolve') =>
    (by: Person, pid: string, aid: string, iid: string, body: unknown, token = by.token) =>
      ctx.request({ method: 'POST', url: `${incidentUrl(pid, aid, iid)}/${path}`, token, body })
  const acknowledge = act('acknowledge')
  const dispute = act('dispute')
  const resolve = act('resolve')

  async function getIncident(by: Person, pid: string, aid: string, iid: string): Promise<any> {
    return k
      .expectStatus(await ctx.request({ method: 'GET', url: incidentUrl(pid, aid, iid), token: by.token }), 200, 'GET')
      .json()
  }

  /** Every incident of the agreement (following the cursors), with an optional query such as `status=reported`. */
  async function allIncidents(by: Person, pid: string, aid: string, query = ''): Promise<any[]> {
    const items: any[] = []
    let url = `${incidentsUrl(pid, aid)}?limit=100${query ? `&${query}` : ''}`
    for (;;) {
      const page = k.expectStatus(await ctx.request({ method: 'GET', url, token: by.token }), 200, 'list').json()
      items.push(...page.items)
      if (page.nextCursor === null) return items
      url = `${incidentsUrl(pid, aid)}?limit=100${query ? `&${query}` : ''}&cursor=${page.nextCursor}`
    }
  }

  const appreciate = (
    by: Person,
    pid: string,
    aid: string,
    body: unknown,
    token = by.token
  ): Promise<LightMyRequestResponse> => ctx.request({ method: 'POST', url: appreciationsUrl(pid, aid), token, body })

  async function allAppreciations(by: Person, pid: string, aid: string): Promise<any[]> {
    const items: any[] = []
    let url = `${appreciationsUrl(pid, aid)}?limit=100`
    for (;;) {
      const page = k.expectStatus(await ctx.request({ method: 'GET', url, token: by.token }), 200, 'list').json()
      items.push(...page.items)
      if (page.nextCursor === null) return items
      url = `${appreciationsUrl(pid, aid)}?limit=100&cursor=${page.nextCursor}`
    }
  }

  /**
   * What a failed request must leave unchanged: the kit's snapshot (agreement, its ETag,
   * versions, signatures, log head), every incident and every appreciation.
   */
  async function state(by: Person, pid: string, aid: string): Promise<unknown> {
    return {
      agreement: await k.snapshot(by, pid, aid),
      incidents: await allIncidents(by, pid, aid),
      appreciations: await allAppreciations(by, pid, aid)
    }
  }

  return {
    incidentsUrl,
    incidentUrl,
    appreciationsUrl,
    reportBody,
    report,
    reported,
    acknowledge,
    dispute,
    resolve,
    getIncident,
    allIncidents,
    appreciate,
    allAppreciations,
    state
  }
}
