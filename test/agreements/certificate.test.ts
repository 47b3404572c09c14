import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { compactVerify, createLocalJWKSet } from 'jose'
import puppeteer from 'puppeteer-core'
import t from 'tap'
import { agreementKit, content } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { findChromium } from '../helpers/chromium.ts'
import { isProblem } from '../helpers/problems.ts'

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)

// A title that would run a script, close an attribute or start an entity if the page did not escape it.
const TITLE = `Screens <script>alert("x")</script> & 'late' nights`
const REVISED = `${TITLE} (revised)`

/** Version 1 signed by both, then version 2 signed by both: 1 superseded, 2 active. */
async function arrange() {
  const { alice, bob, pid } = await k.couple()
  const aid = await k.activeAgreement(alice, [bob], pid, content({ title: TITLE }))
  const v2 = await k.proposeVersion(alice, pid, aid, { basedOn: 1, content: content({ title: REVISED }) })
  if (v2.statusCode !== 201) throw new Error(`propose: ${v2.statusCode} ${v2.body}`)
  const signed = await k.sign(bob, pid, aid, 2)
  if (signed.statusCode !== 201) throw new Error(`sign: ${signed.statusCode} ${signed.body}`)
  const url = `/v1/partnerships/${pid}/agreements/${aid}/certificate`
  return { alice, bob, pid, aid, url }
}
const f = await arrange()
const get = (accept?: string) =>
  ctx.request({ method: 'GET', url: f.url, token: f.alice.token, headers: accept === undefined ? {} : { accept } })

t.test(
  'GET …/certificate as JSON: every version, its hashes, signers, receipts and events, and a checkpoint',
  async (t) => {
    const res = await get()
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^application\/json/)
    t.match(res.headers.vary, /accept/i)
    const c = res.json()
    const [v1, v2] = [
      (await k.version(f.alice, f.pid, f.aid, 1)).body,
      (await k.version(f.alice, f.pid, f.aid, 2)).body
    ]
    const agreement = (await k.agreement(f.alice, f.pid, f.aid)).body
    t.match(c.agreement, { id: f.aid, partnershipId: f.pid, title: agreement.title })
    t.equal(c.versions.length, 2)
    t.match(c.versions[0], {
      number: 1,
      title: TITLE,
      status: 'superseded',
      contentHash: v1.contentHash,
      previousHash: null,
      author: { userId: f.alice.id, displayName: 'Alice' },
      requiredSigners: [{ userId: f.alice.id }, { userId: f.bob.id }],
      activatedAt: v1.activatedAt,
      closedAt: v1.closedAt
    })
    t.match(c.versions[1], {
      number: 2,
      title: REVISED,
      status: 'active',
      contentHash: v2.contentHash,
      previousHash: v1.contentHash,
      basedOn: 1
    })

    const jwks = createLocalJWKSet((await ctx.request({ method: 'GET', url: '/.well-known/jwks.json' })).json())
    for (const v of c.versions) {
      t.same(
        v.signatures.map((s: { userId: string }) => s.userId).sort(),
        [f.alice.id, f.bob.id].sort(),
        `version ${v.number}: both signatures`
      )
      for (const s of v.signatures) {
        const { payload, protectedHeader } = await compactVerify(s.receipt, jwks, { algorithms: ['EdDSA'] })
        t.equal(protectedHeader.typ, 'accord-receipt+jws')
        t.match(JSON.parse(new TextDecoder().decode(payload)), {
          agreementId: f.aid,
          version: v.number,
          contentHash: v.contentHash,
          signerId: s.userId
        })
      }
    }

    // The events are the log's own (seq, type, at, hash), and the checkpoint covers them.
    const log = await k.eventsAfter(f.alice, f.pid, 0)
    const bySeq = new Map(log.map((e) => [e.seq, e]))
    const listed = [...c.events, ...c.versions.flatMap((v: { events: unknown[] }) => v.events)]
    for (const e of listed)
      t.match(bySeq.get(e.seq), { type: e.type, at: e.at, hash: e.hash }, `event ${e.seq} is the log's`)
    t.same(
      c.events.map((e: { type: string }) => e.type),
      ['agreement.created']
    )
    t.same(
      c.versions[0].events.map((e: { type: string }) => e.type),
      ['version.proposed', 'version.signed', 'version.signed', 'version.activated', 'version.superseded']
    )
    t.same(
      c.versions[1].events.map((e: { type: string }) => e.type),
      ['version.proposed', 'version.signed', 'version.signed', 'version.activated']
    )
    t.ok(
      Math.max(...listed.map((e: { seq: number }) => e.seq)) <= c.checkpoint.seq,
      'the checkpoint covers every event listed'
    )
    t.equal(c.checkpoint.partnershipId, f.pid)
    const verified = await ctx.request({
      method: 'POST',
      url: `/v1/partnerships/${f.pid}/audit/verify`,
      token: f.bob.token,
      body: { checkpoints: [c.checkpoint.checkpoint] }
    })
    t.match(verified.json().results, [{ status: 'ok', seq: c.checkpoint.seq }], "the certificate's checkpoint verifies")
  }
)

t.test('drafts are not on it', async (t) => {
  const draft = await k.proposeVersion(f.alice, f.pid, f.aid, {
    basedOn: 2,
    draft: true,
    content: content({ title: 'Only mine' })
  })
  t.equal(draft.statusCode, 201)
  const c = (await get('application/json')).json()
  t.same(
    c.versions.map((v: { number: number }) => v.number),
    [1, 2]
  )
  const dropped = await ctx.request({
    method: 'DELETE',
    url: `/v1/partnerships/${f.pid}/agreements/${f.aid}/versions/3`,
    token: f.alice.token,
    headers: { 'if-match': (await k.version(f.alice, f.pid, f.aid, 3)).etag }
  })
  t.equal(dropped.statusCode, 204)
})

t.test('Accept: text/html gives a self-contained printable page, every text escaped', async (t) => {
  const res = await get('text/html')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/html; charset=utf-8/)
  const html = res.body
  t.notOk(html.includes('<script'), 'no script element: the title is text')
  t.ok(
    html.includes('Screens &#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;late&#39; nights'),
    'the title, escaped'
  )
  t.notMatch(html, /\b(src|href)\s*=|<link|@import|url\(/i, 'no external asset, no link')
  t.match(html, /<style>[\s\S]*@media print/, 'inline print CSS')
  const c = (await get()).json()
  for (const v of c.versions) t.ok(html.includes(v.contentHash), `version ${v.number}'s content hash`)
  t.match(html, /How to verify this/)
  // A page: the page's CSP, which allows its inline style (the API's default-src 'none' would not) and no script.
  const csp = String(res.headers['content-security-policy'])
  t.match(csp, /style-src [^;]*'unsafe-inline'/, 'its inline style is allowed')
  t.match(csp, /script-src-attr 'none'/)
  t.equal(
    (await get()).headers['content-security-policy'],
    "default-src 'none'; frame-ancestors 'none'",
    'the JSON certificate has the API CSP'
  )
})

t.test('content negotiation', async (t) => {
  const cases: Array<[string, string | number]> = [
    ['*/*', 'application/json'],
    ['application/*', 'application/json'],
    ['text/*', 'text/html'],
    ['application/json;q=0.5, text/html', 'text/html'],
    ['text/html;q=0.4, application/json;q=0.9', 'application/json'],
    ['text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8', 'text/html'],
    ['image/png', 406],
    ['application/pdf, text/plain', 406],
    ['text/html;q=0, application/json;q=0', 406],
    ['*/*;q=0', 406]
  ]
  for (const [accept, expected] of cases) {
    const res = await get(accept)
    if (typeof expected === 'number') isProblem(t, res, 406, 'not-acceptable', `Accept: ${accept}`)
    else
      t.match(
        res.headers['content-type'],
        new RegExp(`^${expected.replace('/', '\\/')}`),
        `Accept: ${accept} → ${expected}`
      )
  }
})

t.test('members only, with agreements:read', async (t) => {
  const stranger = await k.person('Mallory')
  isProblem(t, await ctx.request({ method: 'GET', url: f.url, token: stranger.token }), 404, 'not-found', 'a stranger')
  const scoped = await k.scoped(f.alice, 'audit:read')
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: f.url, token: scoped }),
    403,
    'insufficient-scope',
    'another scope'
  )
  const missing = f.url.replace(f.aid, '01900000-0000-7000-8000-000000000000')
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: missing, token: f.alice.token }),
    404,
    'not-found',
    'no such agreement'
  )
})

const chromium = findChromium()

t.test(
  'the page prints to PDF in Chromium, with the title and every content hash in its text',
  {
    skip: chromium === null ? "no `chromium` on PATH (.ci/run installs Debian's: apt-get install -y chromium)" : false
  },
  async (t) => {
    const html = (await get('text/html')).body
    const hashes = (await get()).json().versions.map((v: { contentHash: string }) => v.contentHash) as string[]
    const userDataDir = await mkdtemp(path.join(tmpdir(), 'accord-certificate-'))
    const browser = await puppeteer.launch({
      executablePath: chromium!,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        `--user-data-dir=${userDataDir}`
      ]
    })
    t.teardown(async () => {
      await browser.close()
      await rm(userDataDir, { recursive: true, force: true })
    })
    const page = await browser.newPage()
    const requests: string[] = []
    const errors: string[] = []
    page.on('request', (r) => requests.push(r.url()))
    page.on('pageerror', (e) => errors.push(String(e)))
    page.on('dialog', (d) => {
      errors.push(`a dialog opened: ${d.message()}`)
      void d.dismiss()
    })
    await page.setContent(html, { waitUntil: 'load' })
    // The expression as text: the tests are type-checked without the DOM library.
    const text = (await page.evaluate('document.body.innerText')) as string
    t.ok(text.includes(TITLE), 'the title, as text')
    for (const h of hashes) t.ok(text.includes(h), `content hash ${h.slice(0, 20)}…`)
    const pdf = Buffer.from(await page.pdf({ format: 'A4', printBackground: true }))
    t.equal(pdf.subarray(0, 4).toString('latin1'), '%PDF', 'a PDF')
    t.ok(pdf.length > 10_000, `of a real size (${pdf.length} bytes)`)
    t.same(
      requests.filter((u) => !u.startsWith('about:') && !u.startsWith('data:')),
      [],
      'nothing fetched'
    )
    t.same(errors, [], 'no script ran, no error')
  }
)
