import { randomBytes } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { runDueWork } from '../../src/scheduler/scheduler.ts'
import { problemOf, type TestApp } from './app.ts'
import { agreementKit, content, type Person } from './agreements.ts'

type Kit = ReturnType<typeof agreementKit>

/** Asserts an RFC 9457 answer with this status and machine code. */
export function isProblem (t: Test, res: LightMyRequestResponse, status: number, code: string, what: string): void {
  t.equal(res.statusCode, status, `${what}: ${status} (${res.body.slice(0, 300)})`)
  t.equal(problemOf(res).code, code, `${what}: ${code}`)
}

/** Asserts a 400 validation-failed naming `path` among its errors. */
export function isInvalid (t: Test, res: LightMyRequestResponse, path: string, what: string): void {
  isProblem(t, res, 400, 'validation-failed', what)
  const paths = (problemOf(res).errors ?? []).map((e) => e.path)
  t.ok(paths.includes(path), `${what}: errors name ${path} (got ${JSON.stringify(problemOf(res).errors)})`)
}

/** The parts of a problem that must not tell a stranger anything (instance and requestId differ per request). */
export function problemShape (res: LightMyRequestResponse): Record<string, unknown> {
  const { instance: _i, requestId: _r, ...rest } = problemOf(res) as Record<string, unknown>
  return { status: res.statusCode, ...rest }
}

/** A weekly review cadence at 19:00 local time. */
export const weekly = (title: string, time = '19:00'): Record<string, unknown> => content({ title, review: { rrule: 'FREQ=WEEKLY', time } })

/** Review helpers on top of the agreement kit: partnerships in a given zone, a movable clock, reviews. */
export function reviewKit (ctx: TestApp, k: Kit = agreementKit(ctx)) {
  /** Tokens are verified on the test clock: mint new ones after moving it. */
  async function refresh (people: Person[]): Promise<void> {
    for (const p of people) p.token = await ctx.token(p.sub, { name: p.name })
  }

  /** Moves the clock to `slackMs` after `at` (never backwards) and re-mints the tokens of `people`. */
  async function advancePast (at: Date, people: Person[], slackMs = 60_000): Promise<void> {
    const delta = at.getTime() + slackMs - ctx.clock.now().getTime()
    if (delta > 0) ctx.clock.advance(delta)
    await refresh(people)
  }

  /** A partnership in `timezone`, created by `creator`, joined by `partners`, then by `observers`. */
  async function partnership (timezone: string, creator: Person, partners: Person[] = [], observers: Person[] = []): Promise<string> {
    const res = k.expectStatus(await ctx.request({ method: 'POST', url: '/v1/partnerships', token: creator.token, body: { name: `P ${randomBytes(3).toString('hex')}`, timezone } }), 201, 'create partnership')
    const pid: string = res.json().id
    for (const p of partners) await k.join(p, pid, 'partner', creator)
    for (const o of observers) await k.join(o, pid, 'observer', creator, [creator, ...partners])
    return pid
  }

  const reviewsUrl = (pid: string, aid: string): string => `${k.agreementUrl(pid, aid)}/reviews`
  const reviewUrl = (pid: string, aid: string, rid: string): string => `${reviewsUrl(pid, aid)}/${rid}`

  const openEarly = (by: Person, pid: string, aid: string, token = by.token): Promise<LightMyRequestResponse> =>
    ctx.request({ method: 'POST', url: reviewsUrl(pid, aid), token })

  const answer = (by: Person, pid: string, aid: string, rid: string, body: unknown, token = by.token): Promise<LightMyRequestResponse> =>
    ctx.request({ method: 'PUT', url: `${reviewUrl(pid, aid, rid)}/responses/me`, token, body })

  async function getReview (by: Person, pid: string, aid: string, rid: string): Promise<any> {
    return k.expectStatus(await ctx.request({ method: 'GET', url: reviewUrl(pid, aid, rid), token: by.token }), 200, 'GET review').json()
  }

  async function listReviews (by: Person, pid: string, aid: string): Promise<any[]> {
    return k.expectStatus(await ctx.request({ method: 'GET', url: `${reviewsUrl(pid, aid)}?limit=100`, token: by.token }), 200, 'GET reviews').json().items
  }

  /**
   * Moves the clock just past the agreement's next review date, runs the
   * scheduler and returns the review it opened (with the date it was due).
   */
  async function scheduledReview (by: Person, pid: string, aid: string, people: Person[]): Promise<{ review: any, due: Date }> {
    const due = new Date((await k.agreement(by, pid, aid)).body.nextReviewAt)
    await advancePast(due, people)
    await runDueWork(ctx.deps)
    const open = (await listReviews(by, pid, aid)).filter((r) => r.status === 'open')
    if (open.length !== 1) throw new Error(`expected one open review, got ${JSON.stringify(open)}`)
    return { review: open[0], due }
  }

  return { refresh, advancePast, partnership, reviewsUrl, reviewUrl, openEarly, answer, getReview, listReviews, scheduledReview }
}
