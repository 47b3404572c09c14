import type { InjectOptions } from 'fastify'
import type { TestApp } from '../helpers/app.ts'
import { type Answer, ContractChecker, type OpenApiDocument, type Operation, type Violation } from './contract.ts'
import { type FuzzRequest, fieldsOf, resolveRequest } from './request.ts'
import { arrangeWorld, type Cast, castOf, everyoneStillThere, stillArranged, type World } from './world.ts'

/** How long the fuzzer reads a stream that opened before it goes away (the stream sends its first line at once). */
const STREAM_READ_MS = 2000

/** An operation whose answer is a stream that never ends on its own (Server-Sent Events). */
const isStreaming = (op: Operation): boolean =>
  Object.values(op.responses).some((r) => r.content?.['text/event-stream'] !== undefined)

/**
 * A streaming operation's answer, read as a client reads it: all of it when it is not a stream (a problem),
 * else what the stream sent first; then the client goes away, so the server ends the stream and frees its
 * place (the streams per user are limited). app.inject answers at the response's head with payloadAsStream.
 */
async function injectStream(ctx: TestApp, options: InjectOptions): Promise<Answer> {
  const res = await ctx.app.inject({ ...options, payloadAsStream: true })
  const stream = res.stream()
  let body = ''
  if (!String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
    for await (const chunk of stream) body += String(chunk)
    return { statusCode: res.statusCode, headers: res.headers, body }
  }
  body = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve(''), STREAM_READ_MS)
    stream.once('data', (chunk) => {
      clearTimeout(timer)
      resolve(String(chunk))
    })
  })
  res.raw.res.destroy()
  stream.destroy()
  return { statusCode: res.statusCode, headers: res.headers, body }
}

/** One group of the report: the same defect, on the same operation and status, for the same class of input. */
export interface Finding {
  kind: Violation['kind']
  op: string
  status: number
  about: string | undefined
  inputClass: string
  count: number
  /** The first request that showed it, and what was wrong with the answer. */
  example: string
  hostile: string | undefined
  detail: string
  /** Up to a dozen distinct substitutions that showed it (which fields, which values). */
  inputs: string[]
}

/**
 * Sends generated requests through app.inject and checks each answer against
 * the document. State-changing requests that succeed may spoil the arranged
 * data (a partner leaves, a draft is deleted): after one, at most `checkEvery`
 * requests later, the world is checked and arranged anew if it changed. The
 * checks themselves hold in any state; re-arranging keeps the requests
 * reaching the states worth reaching.
 */
export class Fuzzer {
  readonly findings = new Map<string, Finding>()
  /** Answers by operation and status: what the run reached. */
  readonly reached = new Map<string, Map<number, number>>()
  /** Valid requests the server accepted, up to three body shapes per operation: the best bases for hostile variants. */
  readonly accepted = new Map<string, FuzzRequest[]>()
  sent = 0
  rearranged = 0
  /** Milliseconds spent arranging worlds. */
  arrangingMs = 0
  private world!: World
  private cast: Cast | undefined
  private readonly cursors: Record<string, unknown[]> = {}
  private dirty = false
  private sinceChecked = 0
  private readonly ctx: TestApp
  private readonly checker: ContractChecker
  private readonly getPaths: Set<string>
  private readonly checkEvery: number
  /** FUZZ_TRACE: a regular expression over "METHOD /path input class"; matching requests are printed with their answers. */
  private readonly trace: RegExp | undefined

  constructor(ctx: TestApp, doc: OpenApiDocument, options: { checkEvery: number; trace?: string }) {
    this.ctx = ctx
    this.checker = new ContractChecker(doc)
    this.getPaths = new Set(
      Object.entries(doc.paths)
        .filter(([, item]) => 'get' in item)
        .map(([p]) => p)
    )
    this.checkEvery = options.checkEvery
    this.trace = options.trace ? new RegExp(options.trace) : undefined
  }

  async arrange(): Promise<World> {
    const started = performance.now()
    // An erased member of the cast (DELETE /v1/me succeeded) cannot be arranged again: cast new people.
    if (this.cast === undefined || (this.world !== undefined && !(await everyoneStillThere(this.ctx, this.world))))
      this.cast = await castOf(this.ctx)
    // Cursors outlive a world: they still exercise the decoding of cursors, whichever partnership they came from.
    this.world = await arrangeWorld(this.ctx, this.cast)
    Object.assign(this.world.real, this.cursors)
    this.arrangingMs += performance.now() - started
    this.rearranged++
    return this.world
  }

  /** Arranges the world anew if a successful write since the last check changed what it needs. */
  async ensureArranged(): Promise<void> {
    this.sinceChecked = 0
    if (!this.dirty) return
    this.dirty = false
    if (!(await stillArranged(this.ctx, this.world))) await this.arrange()
  }

  async send(req: FuzzRequest): Promise<void> {
    if (this.sinceChecked >= this.checkEvery) await this.ensureArranged()
    const etag = req.ifMatch === 'etag' ? await this.etagFor(req) : undefined
    const resolved = resolveRequest(req, this.world, etag)
    let answer: Answer
    try {
      const options = {
        method: resolved.method as 'GET',
        url: resolved.url,
        headers: resolved.headers,
        ...(resolved.payload === undefined ? {} : { payload: resolved.payload })
      }
      if (isStreaming(req.op)) answer = await injectStream(this.ctx, options)
      else {
        const res = await this.ctx.app.inject(options)
        answer = { statusCode: res.statusCode, headers: res.headers, body: res.body }
      }
    } catch (err) {
      // A request inject refuses to send is the fuzzer's mistake, but say so rather than hide it.
      this.record(req, resolved.printable, 0, {
        kind: 'not-sendable',
        detail: `inject threw: ${(err as Error).message}`
      })
      return
    }
    this.sent++
    this.sinceChecked++
    if (this.trace?.test(`${req.op.id} ${req.inputClass}`))
      process.stderr.write(`${resolved.printable}\n  → ${answer.statusCode} ${answer.body.slice(0, 1000)}\n`)
    const byStatus = this.reached.get(req.op.id) ?? new Map<number, number>()
    byStatus.set(answer.statusCode, (byStatus.get(answer.statusCode) ?? 0) + 1)
    this.reached.set(req.op.id, byStatus)
    if (req.op.method !== 'GET' && answer.statusCode < 300) this.dirty = true
    for (const v of this.checker.check(req.op, answer, resolved.headers))
      this.record(req, resolved.printable, answer.statusCode, v)
    if (isStreaming(req.op) && answer.statusCode === 200 && !answer.body.startsWith('retry: '))
      this.record(req, resolved.printable, 200, {
        kind: 'stream-not-open',
        detail: `a 200 stream that did not open with its retry field within ${STREAM_READ_MS} ms: ${answer.body.slice(0, 200)}`
      })
    this.harvest(req.op, answer)
    if (answer.statusCode < 300 && req.inputClass.startsWith('valid')) this.remember(req)
  }

  private remember(req: FuzzRequest): void {
    const known = this.accepted.get(req.op.id) ?? []
    const shape = fieldsOf(req.body).join(' ')
    if (known.length < 3 && !known.some((r) => fieldsOf(r.body).join(' ') === shape))
      this.accepted.set(req.op.id, [...known, req])
  }

  /** Findings grouped by kind, then operation and status; inside, one line per class of input. */
  groups(): Array<{ title: string; findings: Finding[] }> {
    const groups = new Map<string, Finding[]>()
    for (const f of this.findings.values()) {
      const title = `${f.kind}: ${f.op} ${f.about ? `reads ${f.about}` : `→ ${f.status || 'no answer'}`}`
      groups.set(title, [...(groups.get(title) ?? []), f])
    }
    return [...groups]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([title, findings]) => ({
        title,
        findings: findings.sort((a, b) => a.inputClass.localeCompare(b.inputClass))
      }))
  }

  private record(req: FuzzRequest, printable: string, status: number, v: Violation): void {
    const key = `${v.kind}|${req.op.id}|${v.about ?? status}|${req.inputClass}`
    const found = this.findings.get(key)
    if (!found) {
      this.findings.set(key, {
        kind: v.kind,
        op: req.op.id,
        status,
        about: v.about,
        inputClass: req.inputClass,
        count: 1,
        example: printable,
        hostile: req.hostile,
        detail: v.detail,
        inputs: req.hostile ? [req.hostile] : []
      })
      return
    }
    found.count++
    if (req.hostile && found.inputs.length < 12 && !found.inputs.includes(req.hostile)) found.inputs.push(req.hostile)
  }

  /** The ETag a GET of the request's resource (or of its parent) shows, as a client would send it back in If-Match. */
  private async etagFor(req: FuzzRequest): Promise<string | undefined> {
    const template = req.op.path
    for (const candidate of [template, template.replace(/\/[^/]+$/, '')]) {
      if (!this.getPaths.has(candidate)) continue
      const { url } = resolveRequest(
        {
          ...req,
          op: { ...req.op, method: 'GET', path: candidate },
          query: [],
          headers: [],
          body: undefined,
          media: undefined,
          ifMatch: undefined,
          idempotencyKey: undefined
        },
        this.world,
        undefined
      )
      const res = await this.ctx.app.inject({
        method: 'GET',
        url,
        headers: { authorization: this.world.authorization[req.caller] ?? '' }
      })
      if (typeof res.headers.etag === 'string') return res.headers.etag
    }
    return undefined
  }

  /** Remembers the cursors each list hands out, so that later requests page (or forge) with real ones. */
  private harvest(op: Operation, answer: Answer): void {
    if (answer.statusCode !== 200 || !answer.body.includes('"nextCursor":"')) return
    const cursor = (JSON.parse(answer.body) as { nextCursor?: unknown }).nextCursor
    const name = `cursor ${op.path}`
    const pool = (this.cursors[name] ??= [])
    this.world.real[name] = pool
    if (typeof cursor === 'string' && !pool.includes(cursor)) pool.push(cursor)
    if (pool.length > 20) pool.shift()
  }
}
