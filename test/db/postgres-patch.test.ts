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
