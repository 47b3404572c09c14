import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// The dependency rules (.dependency-cruiser.cjs) hold on src/, and each of them fires on a tree that breaks it:
// a rule that cannot fire protects nothing.
const root = fileURLToPath(new URL('../..', import.meta.url))
const config = join(root, '.dependency-cruiser.cjs')
const depcruise = join(root, 'node_modules/.bin/depcruise')

function cruise(
  cwd: string
): Promise<{ code: number; violations: Array<{ rule: { name: string }; from: string; to: string }> }> {
  return new Promise((resolve) => {
    execFile(
      depcruise,
      ['src', '--config', config, '--output-type', 'json'],
      { cwd, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout) => {
        const out = JSON.parse(stdout) as {
          summary: { violations: Array<{ rule: { name: string }; from: string; to: string }> }
        }
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, violations: out.summary.violations })
      }
    )
  })
}

t.test('src/ keeps every dependency rule', async (t) => {
  const { code, violations } = await cruise(root)
  t.same(
    violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`),
    []
  )
  t.equal(code, 0, 'depcruise ran')
})

t.test('each rule fires on a tree that breaks it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'accord-rules-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = (path: string, body: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), body)
  }
  // One offence per rule, each in files of its own.
  file('src/lib/a.ts', "import { x } from '../agreements/b.service.ts'\nexport const a = x\n")
  file('src/agreements/b.service.ts', 'export const x = 1\n')
  file('src/errors.ts', "import { y } from './http/c.ts'\nexport const e = y\n")
  file('src/http/c.ts', "import { z } from '../invitations/d.service.ts'\nexport const y = z\n")
  file('src/invitations/d.service.ts', "import { w } from '../agreements/e.service.ts'\nexport const z = w\n")
  file('src/agreements/e.service.ts', 'export const w = 2\n')
  file('src/partnerships/f.service.ts', "import { v } from '../reviews/g.service.ts'\nexport const f = v\n")
  file('src/reviews/g.service.ts', 'export const v = 3\n')
  file('src/calendar/h.service.ts', "import { v } from '../reviews/g.service.ts'\nexport const h = v\n")
  file('src/reviews/i.service.ts', "import { z } from '../invitations/d.service.ts'\nexport const i = z\n")
  file('src/incidents/r.service.ts', "import { v } from '../reviews/g.service.ts'\nexport const r = v\n")
  file('src/incidents/s.service.ts', "import { w } from '../agreements/e.service.ts'\nexport const s = w\n")
  file('src/users/j.service.ts', "import { k } from '../orchestration/k.service.ts'\nexport const j = k\n")
  file('src/orchestration/k.service.ts', 'export const k = 4\n')
  file('src/agreements/l.rules.ts', "import { m } from './m.repo.ts'\nexport const l = m\n")
  file('src/agreements/m.repo.ts', 'export const m = 5\n')
  file('src/agreements/n.routes.ts', "import { m } from './m.repo.ts'\nexport const n = m\n")
  file('src/agreements/o.service.ts', "import { sql } from 'drizzle-orm'\nexport const o = sql\n")
  file('src/audit/p.service.ts', "import { q } from './q.service.ts'\nexport const p = q\n")
  file('src/audit/q.service.ts', "import { p } from './p.service.ts'\nexport const q = p\n")
  file('src/db/schema.ts', "export * from '../audit/p.service.ts'\n")
  // drizzle-orm resolved from the project's node_modules
  mkdirSync(join(dir, 'node_modules'))
  execFile('ln', ['-s', join(root, 'node_modules/drizzle-orm'), join(dir, 'node_modules/drizzle-orm')])
  await new Promise((resolve) => setTimeout(resolve, 200))
  const { violations } = await cruise(dir)
  const fired = new Set(violations.map((v) => v.rule.name))
  for (const rule of [
    'no-circular',
    'lib-is-pure',
    'domain-errors-stand-alone',
    'infrastructure-below-capabilities',
    'schema-barrel-lists-tables-only',
    'kernel-below-features',
    'features-apart',
    'reviews-and-incidents-are-of-agreements',
    'nothing-imports-the-top',
    'rules-are-pure',
    'routes-hold-no-sql',
    'sql-only-from-repos'
  ]) {
    t.ok(fired.has(rule), `${rule} fires`)
  }
  const from = (path: string) => violations.filter((v) => v.from === path).map((v) => v.rule.name)
  t.same(
    from('src/incidents/r.service.ts'),
    ['reviews-and-incidents-are-of-agreements'],
    'an incident reaching into reviews'
  )
  t.same(from('src/incidents/s.service.ts'), [], 'an incident reading its agreement is the allowed direction')
})
