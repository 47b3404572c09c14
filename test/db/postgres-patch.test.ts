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
