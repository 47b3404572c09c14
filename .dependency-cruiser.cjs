// The dependency rules of src/ (ARCHITECTURE.md explains them). `npm run lint:deps` checks them; CI runs it.
// Type-only imports are allowed everywhere: they vanish at run time and only name shapes (e.g. Deps); see options.
const capabilities =
  'agenda|agreements|audit|calendar|dev|health|idempotency|incidents|invitations|keys|partnerships|reviews|users|webhooks'
const kernel = 'audit|idempotency|keys|partnerships|users'
const features = 'agenda|agreements|calendar|dev|health|incidents|invitations|reviews|webhooks'
const runtime = { dependencyTypesNot: ['type-only'] }

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle between modules means two of them are one thing, or one of them is in the wrong place.',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } }
    },
    {
      name: 'lib-is-pure',
      severity: 'error',
      comment: 'src/lib holds helpers that know nothing of Accord: they import only each other.',
      from: { path: '^src/lib/' },
      to: { path: '^src/', pathNot: '^src/lib/', ...runtime }
    },
    {
      name: 'domain-errors-stand-alone',
      severity: 'error',
      comment: "Domain errors name what went wrong; how it is answered is the HTTP layer's business.",
      from: { path: '^src/errors\\.ts$' },
      to: { path: '^src/', ...runtime }
    },
    {
      name: 'infrastructure-below-capabilities',
      severity: 'error',
      comment:
        'db/, http/ and metrics/ serve every capability and depend on none: the one schema barrel lists the tables; http/ uses the idempotency records (and their sealing) and the service keys it verifies tokens with.',
      from: { path: '^src/(db|http|metrics)/', pathNot: '^src/db/schema\\.ts$' },
      to: {
        path: `^src/(${capabilities}|orchestration|scheduler|privacy)/`,
        pathNot: '^src/(idempotency/idempotency\\.(repo|sql|seal)|keys/key\\.service)\\.ts$',
        ...runtime
      }
    },
    {
      name: 'schema-barrel-lists-tables-only',
      severity: 'error',
      from: { path: '^src/db/schema\\.ts$' },
      to: { path: '^src/', pathNot: '\\.sql\\.ts$', ...runtime }
    },
    {
      name: 'kernel-below-features',
      severity: 'error',
      comment: `The kernel (${kernel}: the log, membership and its locks, people, keys, idempotency) is what features build on; it never reaches up.`,
      from: { path: `^src/(${kernel})/` },
      to: { path: `^src/(${features}|orchestration|scheduler)/`, ...runtime }
    },
    {
      name: 'features-apart',
      severity: 'error',
      comment:
        "A feature never imports another feature: what spans them lives in src/orchestration. Any repo may read another's table in a join (*.sql.ts).",
      from: { path: '^src/(agenda|agreements|calendar|dev|health|invitations|webhooks)/' },
      to: { path: `^src/(${features})/`, pathNot: ['^src/$1/', '\\.sql\\.ts$'], ...runtime }
    },
    {
      name: 'reviews-and-incidents-are-of-agreements',
      severity: 'error',
      comment:
        'The one allowed direction between features: a review, an incident or an appreciation is of an agreement (its active version, its clauses, its cadence).',
      from: { path: '^src/(reviews|incidents)/' },
      to: { path: `^src/(${features})/`, pathNot: ['^src/$1/', '^src/agreements/', '\\.sql\\.ts$'], ...runtime }
    },
    {
      name: 'nothing-imports-the-top',
      severity: 'error',
      comment:
        'Orchestration, the scheduler and the export (it reads every capability) are composed by app.ts and server.ts only.',
      from: { path: `^src/(${capabilities}|db|http|lib|metrics)/` },
      to: { path: '^src/(orchestration|scheduler|privacy/export\\.|app\\.ts|server\\.ts)', ...runtime }
    },
    {
      name: 'rules-are-pure',
      severity: 'error',
      comment: 'A *.rules.ts decides over plain data: no database, no clock, no service.',
      from: { path: '\\.rules\\.ts$' },
      to: { path: '(\\.repo|\\.service|\\.routes)\\.ts$|^src/db/|^src/deps\\.ts$', ...runtime }
    },
    {
      name: 'routes-hold-no-sql',
      severity: 'error',
      comment: 'A route parses, calls one use case and replies: its queries are in repos, behind services.',
      from: { path: '\\.routes\\.ts$' },
      to: { path: '\\.(repo|render)\\.ts$|^src/db/', ...runtime }
    },
    {
      name: 'sql-only-from-repos',
      severity: 'error',
      comment: 'Only repos and renders speak to the database: services call them.',
      from: { path: `^src/(${capabilities}|orchestration|scheduler|privacy)/`, pathNot: '\\.(repo|render|sql)\\.ts$' },
      to: { path: 'node_modules/(drizzle-orm/(?!pg-core/)|postgres/|@electric-sql/)', ...runtime }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // TypeScript 7 has no JavaScript API to parse with: swc reads the sources. The rules are about what runs:
    // dependencies are read after compilation, so type-only imports (gone at run time) do not count.
    parser: 'swc',
    tsPreCompilationDeps: false,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] }
  }
}
