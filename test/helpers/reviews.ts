import type { LightMyRequestResponse } from 'fastify'
import { runDueWork } from '../../src/scheduler/scheduler.ts'
import { agreementKit, content, type Person } from './agreements.ts'
import type { TestApp } from './app.ts'

type Kit = ReturnType<typeof agreementKit>

/** A weekly review cadence at 19:00 local time. */
export const weekly = (title: string, time = '19:00'): Record<string, unknown> =>
  content({ title, review: { rrule: 'FREQ=WEEKLY', time } })

/** Review helpers on top of the agreement kit: partnerships in a given zone, a movable clock, reviews. */
export function reviewKit(ctx: TestApp, k: Kit = agreementKit(ctx)) {
  /** Moves the clock to `slackMs` after `at` (never backwards) and re-mints the tokens of `people`. */
  async function advancePast(at: Date, people: Person[], slackMs = 60_000): Promise<void> {
    const delta = at.getTime() + slackMs - ctx.clock.now().getTime()
    if (delta > 0) ctx.clock.advance(delta)
    await k.refresh(people)
  }

  /** A partnership in `timezone`, created by `creator`, joined by `partners`, then by `observers`. */
  async function partnership(
    timezone: string,
    creator: Person,
    partners: Person[] = [],
    observers: Person[] = []
  ): Promise<string> {
    return (await k.partnership(creator, partners, observers, { timezone })).pid
  }

  const reviewsUrl = (pid: string, aid: string): string => `${k.agreementUrl(pid, aid)}/reviews`
  const reviewUrl = (pid: string, aid: string, rid: string): string => `${reviewsUrl(pid, aid)}/${rid}`

  const openEarly = (by: Person, pid: string, aid: string, token = by.token): Promise<LightMyRequestResponse> =>
    ctx.request({ method: 'POST', url: reviewsUrl(pid, aid), token })

  const answer = (
    by: Person,
    pid: string,
    aid: string,
    rid: string,
    body: unknown,
    token = by.token
  ): Promise<LightMyRequestResponse> =>
    ctx.request({ method: 'PUT', url: `${reviewUrl(pid, aid, rid)}/responses/me`, token, body })

  async function getReview(by: Person, pid: string, aid: string, rid: string): Promise<any> {
    return k
      .expectStatus(
        await ctx.request({ method: 'GET', url: reviewUrl(pid, aid, rid), token: by.token }),
        200,
        'GET review'
      )
      .json()
  }

  async function listReviews(by: Person, pid: string, aid: string): Promise<any[]> {
    return k
      .expectStatus(
        await ctx.request({ method: 'GET', url: `${reviewsUrl(pid, aid)}?limit=100`, token: by.token }),
        200,
        'GET reviews'
      )
      .json().items
  }

  /**
   * Moves the clock just past the agreement's next review date, runs the
   * scheduler and returns the review it opened (with the date it was due).
   */
  async function scheduledReview(
    by: Person,
    pid: string,
    aid: string,
    people: Person[]
  ): Promise<{ review: any; due: Date }> {
    const due = new Date((await k.agreement(by, pid, aid)).body.nextReviewAt)
    await advancePast(due, people)
    await runDueWork(ctx.deps)
    const open = (await listReviews(by, pid, aid)).filter((r) => r.status === 'open')
    if (open.length !== 1) throw new Error(`expected one open review, got ${JSON.stringify(open)}`)
    return { review: open[0], due }
  }

  return { advancePast, partnership, reviewsUrl, reviewUrl, openEarly, answer, getReview, listReviews, scheduledReview }
}
