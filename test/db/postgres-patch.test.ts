import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// postgres.js 3.4.9 writes to a null socket when a connection closes while a small write waits for its
// immediate: an uncaught TypeError that killed the process whenever PostgreSQL went away under load (found by
// `npm run faults`; porsager/postgres#1154, #1208, not fixed upstream). patches/postgres+3.4.9.patch guards it,
// applied by patch-package on every install. This fails when the dependency changes under the patch.
const root = fileURLToPath(new URL('../../node_modules/postgres/', import.meta.url))

t.test('postgres.js is the version the patch was written for, and both of its builds carry the guard', async (t) => {
  const installed = JSON.parse(readFileSync(`${root}package.json`, 'utf8')).version
  t.equal(
    installed,
    '3.4.9',
    'a new postgres.js needs the patch checked (is it fixed upstream?) and regenerated: npx patch-package postgres'
  )
  const patch = readFileSync(new URL('../../patches/postgres+3.4.9.patch', import.meta.url), 'utf8')
  t.match(patch, /if \(!socket\) \{/, 'the patch file holds the guard')
  for (const build of ['src/connection.js', 'cjs/src/connection.js']) {
    const source = readFileSync(`${root}${build}`, 'utf8')
    const nextWrite = source.slice(source.indexOf('function nextWrite('), source.indexOf('function connectTimedOut('))
    t.match(
      nextWrite,
      /if \(!socket\) \{[\s\S]*error\(Errors\.connection\('CONNECTION_CLOSED'/,
      `${build}: nextWrite settles instead of writing to a null socket`
    )
    // nextWrite itself, terminate() and closed(): after each, no cancelled timer or buffered bytes are left behind.
    t.equal(
      source.match(/clearImmediate\(nextWriteTimer\)\n\s+chunk = nextWriteTimer = null/g)?.length,
      3,
      `${build}: teardown forgets the cancelled write`
    )
  }
})

// postgres.js 3.4.9 can send a transaction's BEGIN without reserving its connection: the hook that reserves it
// ran last in a short-circuited `&&`, skipped when BEGIN filled the connection's pipeline or met a full socket
// buffer, and a socket's drain handed an idle connection inside a transaction back to the pool. Under load the
// transaction then failed with UNSAFE_TRANSACTION (500s found by `npm run bench:sse`: writes through two
// instances while 1,000 streams read), or unrelated queries ran inside it (porsager/postgres#823, #1189, #1210;
// PRs #1207, #1211, #1218, unmerged). The patch reserves the connection whenever BEGIN was written and keeps drain
// off reserved connections. With `max_pipeline: 0` every BEGIN meets the boundary, so the bug shows every time.
t.test("both builds reserve a transaction's connection whenever BEGIN was written, and drain leaves it", async (t) => {
  for (const build of ['src/connection.js', 'cjs/src/connection.js']) {
    const source = readFileSync(`${root}${build}`, 'utf8')
    t.match(
      source,
      /const written = write\(toBuffer\(q\)\)\n\s+if \(q\.options\.onexecute\) \{[\s\S]*?q\.options\.onexecute\(connection\)\n\s+return false/,
      `${build}: BEGIN reserves its connection once written`
    )
    t.match(
      source,
      /!query && !connection\.reserved && onopen\(connection\)/,
      `${build}: drain skips reserved connections`
    )
  }
})

t.test(
  'a transaction begins where BEGIN fills the pipeline (PostgreSQL)',
  { skip: process.env.TEST_DATABASE_URL ? false : 'needs PostgreSQL (TEST_DATABASE_URL)' },
  async (t) => {
    const { default: postgres } = await import('postgres')
    // max_pipeline is a run-time option postgres.js's types do not declare.
    const options = { max: 2, max_pipeline: 0, onnotice: () => {} } as Parameters<typeof postgres>[1]
    const sql = postgres(process.env.TEST_DATABASE_URL!, options)
    t.teardown(() => sql.end({ timeout: 1 }))
    const results = await Promise.allSettled(
      [1, 2, 3, 4].map((k) =>
        sql.begin(async (tx) => {
          const [row] = await tx`select ${k}::int as k`
          return row!.k as number
        })
      )
    )
    t.same(
      results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as { code?: string }).code)),
      [1, 2, 3, 4],
      'each transaction committed its own result (unpatched: UNSAFE_TRANSACTION each time)'
    )
  }
)

// postgres.js 3.4.9's Queue (its pool's queues of connections and of waiting queries) left a hole at the front on
// each `shift` and dropped its array only when it emptied; `remove` (each time a connection changes queue)
// searched from index 0. Under sustained load the queues never empty: the holes piled up and every query paid a
// scan of them (porsager/postgres#747; a pool of 4 at 50 concurrent queries fell from 33,000 to 12,000 queries/s
// within 12 s). The patch drops the holes once they are half the array and searches from the head. What is
// observable from outside is the memory a queue that never empties keeps: 50 queues of 4 after 200,000 turns
// each held 10 million holes (98 MB measured) unpatched, and hold nothing now.
t.test('a pool queue that never empties keeps no holes, and still behaves as a queue', async (t) => {
  const { createRequire } = await import('node:module')
  const { setFlagsFromString } = await import('node:v8')
  const { runInNewContext } = await import('node:vm')
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  type Queue<T> = { length: number; push(x: T): T; shift(): T; remove(x: T): T | null }
  const builds: Record<string, (initial?: unknown[]) => Queue<object>> = {
    'src/queue.js': (await import(`${root}src/queue.js`)).default,
    'cjs/src/queue.js': createRequire(import.meta.url)(`${root}cjs/src/queue.js`)
  }
  for (const [build, Queue] of Object.entries(builds)) {
    // Semantics, across the compaction: FIFO order, `remove` of an entry behind and ahead of the head.
    const q = Queue()
    const items = Array.from({ length: 5000 }, (_, i) => ({ i }))
    for (const x of items) q.push(x)
    const out: number[] = []
    for (let k = 0; k < 3000; k++) out.push((q.shift() as { i: number }).i)
    t.same(out.slice(0, 3), [0, 1, 2], `${build}: shift takes the oldest first`)
    t.equal(q.remove(items[10]!), null, `${build}: an entry already taken is not found`)
    t.equal(q.remove(items[4000]!), items[4000], `${build}: an entry still queued is removed`)
    t.equal(q.length, 1999, `${build}: length counts what is left`)
    t.equal((q.shift() as { i: number }).i, 3000, `${build}: order survives the compaction`)

    gc()
    const before = process.memoryUsage().heapUsed
    const queues = Array.from({ length: 50 }, () => Queue())
    const conns = Array.from({ length: 4 }, (_, i) => ({ i }))
    for (const queue of queues) {
      for (const c of conns) queue.push(c)
      for (let k = 0; k < 200_000; k++) queue.push(queue.shift()) // always 4 queued, never empty
      t.equal(queue.remove(conns[1]!), conns[1], `${build}: remove still finds a connection`)
    }
    gc()
    const grew = (process.memoryUsage().heapUsed - before) / 2 ** 20
    t.ok(grew < 16, `${build}: 50 busy queues after 200,000 turns each keep ${grew.toFixed(1)} MB (unpatched: 98)`)
    t.equal(queues.length, 50) // keeps the queues reachable until after the measurement
  }
})
