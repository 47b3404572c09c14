import t from 'tap'
import { agreementKit, content, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { weekly } from '../helpers/reviews.ts'

// GET …/{pid}/agenda is the caller's: one partnership with three partners (Alice, Bob, Carol) and an observer (Olga),
// arranged so that each list holds what it must and leaves out what it must not, and the four agendas differ exactly
// where the caller does: whom a review asks and who answered, whose signature a proposal waits for, who is to answer
// an incident. Every link resolves for its caller.

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const MINUTE = 60_000
const DAY = 24 * 3600_000
const CLAUSE = 'no-hidden-chats'

/** Sets the clock to an absolute instant and re-mints the tokens of `people` on it. */
async function at(iso: string, people: Person[]): Promise<void> {
  ctx.clock.advance(Date.parse(iso) - ctx.clock.now().getTime())
  await k.refresh(people)
}

/** Moves the clock on a minute, so that what follows happens strictly after what came before. */
const tick = (): void => ctx.clock.advance(MINUTE)

t.test('the agenda of each of three partners and an observer of the same partnership', async (t) => {
  const [alice, bob, carol, olga] = [
    await k.person('Alice'),
    await k.person('Bob'),
    await k.person('Carol'),
    await k.person('Olga')
  ]
  const people = [alice, bob, carol, olga]
  const partners = [alice, bob, carol]
  await at('2030-06-03T08:00:00Z', people) // a Monday, 10:00 in Paris
  const { pid } = await k.partnership(alice, [bob, carol], [olga], { timezone: 'Europe/Paris' })
  const url = (aid: string): string => k.agreementUrl(pid, aid)
  const post = async (by: Person, path: string, body: unknown, status = 201): Promise<any> =>
    k
      .expectStatus(await ctx.request({ method: 'POST', url: path, token: by.token, body }), status, `POST ${path}`)
      .json()
  const report = (by: Person, aid: string, subject: Person): Promise<any> =>
    post(by, `${url(aid)}/incidents`, {
      clauseKey: CLAUSE,
      subjectId: subject.id,
      occurredAt: new Date(ctx.clock.now().getTime() - 30_000).toISOString(),
      description: 'It happened.'
    })
  const appreciate = (by: Person, aid: string): Promise<any> =>
    post(by, `${url(aid)}/appreciations`, { text: 'Thank you.', clauseKey: CLAUSE })

  // Agreements, in this order (their ids sort the same way).
  const evenings = await k.activeAgreement(alice, [bob, carol], pid, weekly('Evenings')) // an open review
  const chores = await k.activeAgreement(alice, [bob, carol], pid, weekly('Chores')) // due within 14 days
  const money = await k.activeAgreement(
    alice,
    [bob, carol],
    pid,
    content({ title: 'Money', review: { rrule: 'FREQ=MONTHLY;BYMONTHDAY=1' } })
  ) // due in a month; a completed review
  const screens = await k.activeAgreement(alice, [bob, carol], pid, weekly('Screens')) // Alice proposes version 2
  const texts = await k.activeAgreement(alice, [bob, carol], pid, weekly('Texts')) // Carol withdraws consent
  tick()

  // Texts: an appreciation, then Carol withdraws her consent from the active version: suspended.
  const textsThanks = await appreciate(bob, texts)
  tick()
  k.expectStatus(
    await ctx.request({ method: 'DELETE', url: `${k.versionUrl(pid, texts, 1)}/signatures/me`, token: carol.token }),
    204,
    'revoke consent'
  )
  const suspended = (await k.agreement(olga, pid, texts)).body
  t.equal(suspended.status, 'suspended')
  tick()

  // Money: an incident, resolved, and an appreciation, then a review all keep; then one of each again.
  const resolved = await report(alice, money, alice)
  await post(alice, `${url(money)}/incidents/${resolved.id}/acknowledge`, { note: 'Sorry.' }, 200)
  await post(bob, `${url(money)}/incidents/${resolved.id}/resolve`, { consequenceIndex: 0, note: 'Done.' }, 200)
  await appreciate(bob, money)
  tick()
  const moneyReview = await post(carol, `${url(money)}/reviews`, undefined)
  let closed: any
  for (const p of partners)
    closed = k
      .expectStatus(
        await ctx.request({
          method: 'PUT',
          url: `${url(money)}/reviews/${moneyReview.id}/responses/me`,
          token: p.token,
          body: { outcome: 'keep', rating: 4 }
        }),
        200,
        'answer'
      )
      .json()
  t.equal(closed.status, 'completed')
  tick()

  // Unresolved incidents: about Bob, reported (his to answer); about Carol, acknowledged; about Alice, disputed.
  const aboutBob = await report(alice, chores, bob)
  tick()
  const aboutCarol = await report(bob, money, carol)
  await post(carol, `${url(money)}/incidents/${aboutCarol.id}/acknowledge`, {}, 200)
  tick()
  const aboutAlice = await report(carol, evenings, alice)
  await post(alice, `${url(evenings)}/incidents/${aboutAlice.id}/dispute`, { note: 'That is not what happened.' }, 200)
  tick()
  const moneyThanks = await appreciate(alice, money)
  const choresThanks = await appreciate(carol, chores)
  tick()

  // Proposals: Alice proposes version 2 of Screens (her own signature); Bob proposes a new agreement, Social.
  k.expectStatus(
    await k.proposeVersion(alice, pid, screens, {
      basedOn: 1,
      content: weekly('Screens', '20:00')
    }),
    201,
    'propose version 2'
  )
  tick()
  const social = (await k.create(bob, pid, { content: content({ title: 'Social' }) })).id
  tick()

  // Evenings: Bob opens an early review; Alice answers, Bob and Carol have not.
  const review = await post(bob, `${url(evenings)}/reviews`, undefined)
  tick()
  k.expectStatus(
    await ctx.request({
      method: 'PUT',
      url: `${url(evenings)}/reviews/${review.id}/responses/me`,
      token: alice.token,
      body: { outcome: 'keep', rating: 5 }
    }),
    200,
    'Alice answers'
  )
  tick()

  // What the agreements say about their next reviews.
  const next = async (aid: string): Promise<string | null> => (await k.agreement(alice, pid, aid)).body.nextReviewAt
  const now = ctx.clock.now().getTime()
  const [choresDue, screensDue, moneyDue] = [await next(chores), await next(screens), await next(money)]
  t.ok(Date.parse(choresDue!) - now < 7 * DAY && Date.parse(choresDue!) > now, 'Chores comes due within a week')
  t.ok(Date.parse(screensDue!) - now < 7 * DAY, 'so does Screens (in revision, still binding)')
  t.ok(Date.parse(moneyDue!) - now > 14 * DAY, `Money is due later than 14 days from now (${moneyDue})`)
  t.equal(await next(texts), null, 'a suspended agreement has no next review')
  t.equal((await k.agreement(alice, pid, screens)).body.status, 'in_revision')

  // The expected agenda of one caller, written out.
  const expected = (who: Person) => {
    const partner = who !== olga
    const upcoming = [
      { aid: chores, title: 'Chores', dueAt: choresDue! },
      { aid: screens, title: 'Screens', dueAt: screensDue! }
    ].sort((a, b) => a.dueAt.localeCompare(b.dueAt) || a.aid.localeCompare(b.aid))
    return {
      partnershipId: pid,
      role: partner ? 'partner' : 'observer',
      reviews: [
        {
          status: 'open',
          reviewId: review.id,
          agreementId: evenings,
          title: 'Evenings',
          dueAt: review.dueAt,
          overdue: false,
          youAreAsked: partner,
          youAnswered: who === alice,
          href: `${url(evenings)}/reviews/${review.id}`
        },
        ...upcoming.map((u) => ({
          status: 'upcoming',
          reviewId: null,
          agreementId: u.aid,
          title: u.title,
          dueAt: u.dueAt,
          overdue: false,
          youAreAsked: partner,
          youAnswered: false,
          href: url(u.aid)
        }))
      ],
      proposals: [
        ...(who === bob || who === carol
          ? [{ agreementId: screens, title: 'Screens', versionNumber: 2, href: k.versionUrl(pid, screens, 2) }]
          : []),
        ...(who === alice || who === carol
          ? [{ agreementId: social, title: 'Social', versionNumber: 1, href: k.versionUrl(pid, social, 1) }]
          : [])
      ],
      incidents: [
        { inc: aboutBob, aid: chores, status: 'reported', mine: who === bob },
        { inc: aboutCarol, aid: money, status: 'acknowledged', mine: false },
        { inc: aboutAlice, aid: evenings, status: 'disputed', mine: false }
      ].map(({ inc, aid, status, mine }) => ({
        id: inc.id,
        agreementId: aid,
        clauseKey: CLAUSE,
        status,
        occurredAt: inc.occurredAt,
        awaitingYourAnswer: mine,
        href: `${url(aid)}/incidents/${inc.id}`
      })),
      suspended: [{ agreementId: texts, title: 'Texts', updatedAt: suspended.updatedAt, href: url(texts) }],
      sinceLastReview: [
        {
          agreementId: evenings,
          title: 'Evenings',
          since: null,
          incidentCount: 1,
          appreciationCount: 0,
          incidents: [
            {
              id: aboutAlice.id,
              occurredAt: aboutAlice.occurredAt,
              href: `${url(evenings)}/incidents/${aboutAlice.id}`
            }
          ],
          appreciations: []
        },
        {
          agreementId: chores,
          title: 'Chores',
          since: null,
          incidentCount: 1,
          appreciationCount: 1,
          incidents: [
            { id: aboutBob.id, occurredAt: aboutBob.occurredAt, href: `${url(chores)}/incidents/${aboutBob.id}` }
          ],
          appreciations: [
            {
              id: choresThanks.id,
              createdAt: choresThanks.createdAt,
              href: `${url(chores)}/appreciations/${choresThanks.id}`
            }
          ]
        },
        {
          agreementId: money,
          title: 'Money',
          since: closed.closedAt,
          incidentCount: 1,
          appreciationCount: 1,
          incidents: [
            { id: aboutCarol.id, occurredAt: aboutCarol.occurredAt, href: `${url(money)}/incidents/${aboutCarol.id}` }
          ],
          appreciations: [
            {
              id: moneyThanks.id,
              createdAt: moneyThanks.createdAt,
              href: `${url(money)}/appreciations/${moneyThanks.id}`
            }
          ]
        },
        {
          agreementId: screens,
          title: 'Screens',
          since: null,
          incidentCount: 0,
          appreciationCount: 0,
          incidents: [],
          appreciations: []
        },
        {
          agreementId: texts,
          title: 'Texts',
          since: null,
          incidentCount: 0,
          appreciationCount: 1,
          incidents: [],
          appreciations: [
            {
              id: textsThanks.id,
              createdAt: textsThanks.createdAt,
              href: `${url(texts)}/appreciations/${textsThanks.id}`
            }
          ]
        }
      ]
    }
  }

  for (const who of people) {
    t.test(`${who.name}'s agenda`, async (t) => {
      const res = await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/agenda`, token: who.token })
      t.equal(res.statusCode, 200, res.body)
      const { asOf, horizon, proposals, ...agenda } = res.json()
      const clock = ctx.clock.now().getTime()
      t.ok(Math.abs(Date.parse(asOf) - clock) < 5_000, 'asOf is now')
      t.equal(Date.parse(horizon) - Date.parse(asOf), 14 * DAY, 'the horizon is 14 days ahead')
      const { proposals: expectedProposals, ...rest } = expected(who)
      t.same(agenda, rest, 'reviews, incidents, suspended agreements and what happened since each last review')
      // proposedAt is when each was proposed: taken from the versions themselves.
      const withTimes = []
      for (const p of expectedProposals) {
        const v = (await k.version(who, pid, p.agreementId, p.versionNumber)).body
        withTimes.push({ ...p, proposedAt: v.proposedAt })
      }
      t.same(proposals, withTimes, 'proposals waiting for this caller’s signature, oldest first')

      // Every link resolves for its caller, and names what the item says.
      const body = res.json()
      const links = [
        ...body.reviews,
        ...body.proposals,
        ...body.incidents,
        ...body.suspended,
        ...body.sinceLastReview.flatMap((g: any) => [...g.incidents, ...g.appreciations])
      ]
      t.equal(links.length, 3 + expectedProposals.length + 3 + 1 + 6)
      for (const item of links) {
        const linked = await ctx.request({ method: 'GET', url: item.href, token: who.token })
        t.equal(linked.statusCode, 200, `${who.name} follows ${item.href}`)
        const resource = linked.json()
        if (item.id !== undefined) t.equal(resource.id, item.id, 'the incident or appreciation it names')
        else if (item.reviewId) t.equal(resource.id, item.reviewId, 'the review it names')
        else if (item.versionNumber !== undefined) t.equal(resource.number, item.versionNumber, 'the version')
        else t.equal(resource.id, item.agreementId, 'the agreement it names')
      }
    })
  }
})
