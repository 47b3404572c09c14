import { randomBytes } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import type { z } from 'zod'
import type { EventSchema, VerificationSchema } from '../../src/audit/audit.schemas.ts'
import type { CreatedInvitationSchema } from '../../src/invitations/invitation.schemas.ts'
import type { TestApp } from './app.ts'

/** A user with a token minted by the service's own issuer (no scope: all of them). */
export interface Person {
  sub: string
  name: string
  token: string
  id: string
}

/** An invitation as POST …/invitations answers it: the only answer that shows its token. */
export type Invitation = z.infer<typeof CreatedInvitationSchema>

/** A partnership the kit arranged: its id, name, URL and the URL of its agreements. */
export interface Partnership {
  pid: string
  name: string
  url: string
  agreements: string
}

/** An event of a partnership's log, as GET …/events answers it. */
export type Event = z.infer<typeof EventSchema>

/** What GET …/audit/verify answers. */
export type Verification = z.infer<typeof VerificationSchema>

/** A valid `terms` content (SPEC §3.2); `overrides` replace top-level fields. */
export const content = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  title: 'Phone transparency',
  category: 'transparency',
  clauses: [
    {
      key: 'no-hidden-chats',
      text: "We don't delete or hide conversations with people we've dated.",
      consequences: ['We talk it through within 48 hours.']
    }
  ],
  review: { rrule: 'FREQ=MONTHLY;BYDAY=1SU' },
  ...overrides
})

/** The shared kit: people, partnerships and their members, agreements, proposals and the audit log, all through HTTP. */
export function agreementKit(ctx: TestApp) {
  const expectStatus = (res: LightMyRequestResponse, status: number, what: string): LightMyRequestResponse => {
    if (res.statusCode !== status) throw new Error(`${what}: expected ${status}, got ${res.statusCode} ${res.body}`)
    return res
  }

  async function person(name: string): Promise<Person> {
    const sub = `${name.toLowerCase()}-${randomBytes(4).toString('hex')}`
    const token = await ctx.token(sub, { name })
    const me = expectStatus(await ctx.request({ method: 'GET', url: '/v1/me', token }), 200, 'GET /v1/me')
    return { sub, name, token, id: me.json().id }
  }

  /** Another token for the same user, carrying `scope`. */
  const scoped = (who: Person, scope: string): Promise<string> => ctx.token(who.sub, { name: who.name, scope })

  /** Tokens are verified on the test clock: mint new ones after moving it. */
  async function refresh(people: Person[]): Promise<void> {
    for (const p of people) p.token = await ctx.token(p.sub, { name: p.name })
  }

  async function invite(by: Person, pid: string, role: 'partner' | 'observer'): Promise<Invitation> {
    return expectStatus(
      await ctx.request({
        method: 'POST',
        url: `/v1/partnerships/${pid}/invitations`,
        token: by.token,
        body: { role }
      }),
      201,
      'invite'
    ).json()
  }

  async function approve(by: Person, pid: string, iid: string): Promise<void> {
    expectStatus(
      await ctx.request({
        method: 'POST',
        url: `/v1/partnerships/${pid}/invitations/${iid}/approvals`,
        token: by.token
      }),
      201,
      'approve'
    )
  }

  /** POST /v1/invitations/accept with the token an invitation showed. */
  async function accept(who: Person, token: string): Promise<LightMyRequestResponse> {
    return expectStatus(
      await ctx.request({ method: 'POST', url: '/v1/invitations/accept', token: who.token, body: { token } }),
      201,
      'accept'
    )
  }

  /** `who` joins as a partner, or as an observer approved by every partner in `approvers`. */
  async function join(
    who: Person,
    pid: string,
    role: 'partner' | 'observer',
    by: Person,
    approvers: Person[] = []
  ): Promise<LightMyRequestResponse> {
    const invitation = await invite(by, pid, role)
    if (role === 'observer') for (const p of approvers) await approve(p, pid, invitation.id)
    return accept(who, invitation.token)
  }

  async function leave(who: Person, pid: string): Promise<void> {
    expectStatus(
      await ctx.request({ method: 'DELETE', url: `/v1/partnerships/${pid}/members/me`, token: who.token }),
      204,
      'leave'
    )
  }

  /**
   * A partnership created by `creator`, joined by `partners` and then by `observers` (approved by every
   * partner); a name of its own unless `options` gives one, in Europe/Paris unless it gives a zone.
   */
  async function partnership(
    creator: Person,
    partners: Person[] = [],
    observers: Person[] = [],
    options: { name?: string; timezone?: string } = {}
  ): Promise<Partnership> {
    const name = options.name ?? `Partnership ${randomBytes(4).toString('hex')}`
    const body = { name, timezone: options.timezone ?? 'Europe/Paris' }
    const pid: string = expectStatus(
      await ctx.request({ method: 'POST', url: '/v1/partnerships', token: creator.token, body }),
      201,
      'create partnership'
    ).json().id
    for (const p of partners) await join(p, pid, 'partner', creator)
    for (const o of observers) await join(o, pid, 'observer', creator, [creator, ...partners])
    return { pid, name, url: `/v1/partnerships/${pid}`, agreements: `/v1/partnerships/${pid}/agreements` }
  }

  /** Alice and Bob, new people, partners of a new partnership (four events: created, joined, invited, joined). */
  async function couple(): Promise<Partnership & { alice: Person; bob: Person }> {
    const alice = await person('Alice')
    const bob = await person('Bob')
    return { alice, bob, ...(await partnership(alice, [bob])) }
  }

  const agreementsUrl = (pid: string): string => `/v1/partnerships/${pid}/agreements`
  const agreementUrl = (pid: string, aid: string): string => `${agreementsUrl(pid)}/${aid}`
  const versionUrl = (pid: string, aid: string, n: number): string => `${agreementUrl(pid, aid)}/versions/${n}`

  /** POST …/agreements; returns the agreement detail. */
  async function create(by: Person, pid: string, body: Record<string, unknown> = { content: content() }): Promise<any> {
    return expectStatus(
      await ctx.request({ method: 'POST', url: agreementsUrl(pid), token: by.token, body }),
      201,
      'create agreement'
    ).json()
  }

  /** GET …/agreements/{aid}: the body and its ETag. */
  async function agreement(by: Person, pid: string, aid: string): Promise<{ body: any; etag: string }> {
    const res = expectStatus(
      await ctx.request({ method: 'GET', url: agreementUrl(pid, aid), token: by.token }),
      200,
      'GET agreement'
    )
    return { body: res.json(), etag: res.headers.etag as string }
  }

  /** GET …/versions/{n}: the body and its ETag. */
  async function version(by: Person, pid: string, aid: string, n: number): Promise<{ body: any; etag: string }> {
    const res = expectStatus(
      await ctx.request({ method: 'GET', url: versionUrl(pid, aid, n), token: by.token }),
      200,
      'GET version'
    )
    return { body: res.json(), etag: res.headers.etag as string }
  }

  /** POST …/versions (If-Match: the agreement's current ETag). */
  async function proposeVersion(
    by: Person,
    pid: string,
    aid: string,
    body: Record<string, unknown>
  ): Promise<LightMyRequestResponse> {
    const { etag } = await agreement(by, pid, aid)
    return ctx.request({
      method: 'POST',
      url: `${agreementUrl(pid, aid)}/versions`,
      token: by.token,
      headers: { 'if-match': etag },
      body
    })
  }

  /** Signs version n with the content hash a GET shows. */
  async function sign(
    by: Person,
    pid: string,
    aid: string,
    n: number,
    headers: Record<string, string> = {}
  ): Promise<LightMyRequestResponse> {
    const { body } = await version(by, pid, aid, n)
    return ctx.request({
      method: 'POST',
      url: `${versionUrl(pid, aid, n)}/signatures`,
      token: by.token,
      headers,
      body: { contentHash: body.contentHash }
    })
  }

  /** `by` proposes a new agreement and every partner in `others` signs it: it is active. */
  async function activeAgreement(
    by: Person,
    others: Person[],
    pid: string,
    c: Record<string, unknown> = content()
  ): Promise<string> {
    const a = await create(by, pid, { content: c })
    for (const o of others) expectStatus(await sign(o, pid, a.id, 1), 201, 'sign')
    return a.id
  }

  async function verify(by: Person, pid: string): Promise<Verification> {
    return expectStatus(
      await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/audit/verify`, token: by.token }),
      200,
      'verify'
    ).json()
  }

  const headSeq = async (by: Person, pid: string): Promise<number> => (await verify(by, pid)).head?.seq ?? 0

  /** Every event with a seq greater than `after`, oldest first. */
  async function eventsAfter(by: Person, pid: string, after: number): Promise<Event[]> {
    const events: Event[] = []
    let url = `/v1/partnerships/${pid}/events?after=${after}&limit=100`
    for (;;) {
      const page = expectStatus(await ctx.request({ method: 'GET', url, token: by.token }), 200, 'events').json()
      events.push(...page.items)
      if (page.nextCursor === null) return events
      url = `/v1/partnerships/${pid}/events?limit=100&cursor=${page.nextCursor}`
    }
  }

  /** Runs `action` and returns the types of the events it appended. */
  async function typesAppendedBy(by: Person, pid: string, action: () => Promise<unknown>): Promise<string[]> {
    const before = await headSeq(by, pid)
    await action()
    return (await eventsAfter(by, pid, before)).map((e) => e.type)
  }

  /** What a failed request must leave unchanged: the agreement (body and ETag), every version, and the audit log. */
  async function snapshot(by: Person, pid: string, aid: string): Promise<unknown> {
    const a = await agreement(by, pid, aid)
    const versions = expectStatus(
      await ctx.request({ method: 'GET', url: `${agreementUrl(pid, aid)}/versions?limit=100`, token: by.token }),
      200,
      'versions'
    ).json()
    const signatures = []
    for (const v of versions.items) {
      signatures.push(
        expectStatus(
          await ctx.request({ method: 'GET', url: `${versionUrl(pid, aid, v.number)}/signatures`, token: by.token }),
          200,
          'signatures'
        ).json()
      )
    }
    return { agreement: a.body, etag: a.etag, versions, signatures, head: await headSeq(by, pid) }
  }

  return {
    person,
    scoped,
    refresh,
    invite,
    approve,
    accept,
    join,
    leave,
    partnership,
    couple,
    agreementsUrl,
    agreementUrl,
    versionUrl,
    create,
    agreement,
    version,
    proposeVersion,
    sign,
    activeAgreement,
    verify,
    headSeq,
    eventsAfter,
    typesAppendedBy,
    snapshot,
    expectStatus
  }
}
