import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { get } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import v8 from 'node:v8'
import vm from 'node:vm'
import t from 'tap'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { seedEvents } from '../helpers/events.ts'

/**
 * The export's memory is bounded by a page, not by the document: a partnership with a log of 10,000 events
 * (about 10 MB of JSON) is exported over HTTP into a file while the heap is sampled after a full collection
 * every few milliseconds, so the figure is what the process holds, not garbage waiting to be collected.
 * A second run that keeps what it receives shows the probe sees a document held in memory.
 */

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

const EVENTS = 10_000
const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const { alice, pid } = await k.couple()
await seedEvents(ctx, pid, alice.id, EVENTS, 600)
await ctx.app.listen({ host: '127.0.0.1', port: 0 })
const { port } = ctx.app.server.address() as AddressInfo
const dir = mkdtempSync(join(tmpdir(), 'accord-export-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
// The seeding's garbage collected once, and time for the load shedding's event-loop probe to see the stall end.
gc()
await new Promise((resolve) => setTimeout(resolve, 1500))

/** GET /v1/me/export over HTTP, the body piped into `into` when it is a 200; a 503's status, to retry; else throws. */
function exportInto(into: Writable): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const request = get(
      { host: '127.0.0.1', port, path: '/v1/me/export', headers: { authorization: `Bearer ${alice.token}` } },
      (res) => {
        if (res.statusCode === 200) pipeline(res, into).then(() => resolve(200), reject)
        else if (res.statusCode === 503) res.resume().on('end', () => resolve(503))
        else reject(new Error(`export: ${res.statusCode}`))
      }
    )
    request.on('error', reject)
  })
}

/** Exports Alice's data into `into` while sampling the heap (after a collection) and RSS; the growth of each. */
async function measuredExport(
  into: Writable
): Promise<{ heapGrowth: number; rssGrowth: number; ms: number; samples: number }> {
  gc()
  const before = process.memoryUsage()
  let heapPeak = before.heapUsed
  let rssPeak = before.rss
  let samples = 0
  // A full collection takes tens to hundreds of milliseconds on this heap: one sample, then a pause, then the next.
  let sampler: NodeJS.Timeout | undefined
  const sample = (): void => {
    gc()
    const now = process.memoryUsage()
    heapPeak = Math.max(heapPeak, now.heapUsed)
    rssPeak = Math.max(rssPeak, now.rss)
    samples++
  }
  const sampleAgain = (): void => {
    sample()
    sampler = setTimeout(sampleAgain, 50)
  }
  sampler = setTimeout(sampleAgain, 50)
  const started = performance.now()
  try {
    // The forced collections stall the event loop, which the load shedding may answer with 503: retry as a client would.
    for (let attempt = 1; (await exportInto(into)) !== 200; attempt++) {
      if (attempt === 5) throw new Error('export: 503 five times')
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
  } finally {
    clearTimeout(sampler)
  }
  const ms = performance.now() - started
  sample() // and once more at the end, with whatever the run kept
  return { heapGrowth: heapPeak - before.heapUsed, rssGrowth: rssPeak - before.rss, ms, samples }
}

const mb = (bytes: number): string => `${(bytes / 1_048_576).toFixed(1)} MB`

t.test(`exporting a log of ${EVENTS.toLocaleString('en')} events holds far less than the document`, async (t) => {
  const file = join(dir, 'export.json')
  const { heapGrowth, rssGrowth, ms, samples } = await measuredExport(createWriteStream(file))
  const size = statSync(file).size
  t.comment(
    `document ${mb(size)} in ${Math.round(ms)} ms; heap growth ${mb(heapGrowth)} (peak of ${samples} samples after a collection), RSS growth ${mb(rssGrowth)}`
  )
  t.ok(samples >= 3, 'sampled while it ran')
  t.ok(size > 5 * 1_048_576, `the document is over 5 MB (${mb(size)})`)
  t.ok(heapGrowth < size / 2, `the heap grew by less than half the document (${mb(heapGrowth)} < ${mb(size / 2)})`)

  const doc = JSON.parse(readFileSync(file, 'utf8'))
  const events = doc.partnerships[0].events as Array<{ seq: number; hash: string }>
  const verified = await k.verify(alice, pid)
  t.equal(events.length, verified.eventCount, `every event: ${verified.eventCount}, never truncated`)
  t.ok(events.length >= EVENTS)
  t.ok(
    events.every((e, i) => e.seq === i + 1),
    'in order, without a gap'
  )
  t.equal(events.at(-1)!.hash, verified.head!.hash, "the last is the log's head")
  t.equal(doc.complete, true)
})

t.test('the probe sees a document that is held in memory', async (t) => {
  const kept: string[] = [] // strings live on the heap (buffers would not count in heapUsed)
  const { heapGrowth, samples } = await measuredExport(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        kept.push(chunk.toString('utf8'))
        done()
      }
    })
  )
  const size = kept.reduce((n, s) => n + s.length, 0)
  t.comment(`kept ${mb(size)}: heap growth ${mb(heapGrowth)} (peak of ${samples} samples)`)
  t.ok(heapGrowth > size / 2, 'a client that keeps the document is seen growing by it')
})
